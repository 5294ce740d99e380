package fmnist

import (
	"fmt"
	"math/rand/v2"
)

// Batcher yields minibatches of a Set in a seeded random order, reshuffled
// every epoch. The order of epoch e depends only on (Seed, e), so the state
// (Epoch, Pos) is all a checkpoint needs to resume the exact same sequence.
type Batcher struct {
	set   *Set
	batch int
	seed  uint64
	perm  []int32
	// Epoch is the current epoch (0-based); Pos the next index into its order.
	Epoch, Pos int
}

// NewBatcher returns a batcher over set with the given batch size.
func NewBatcher(set *Set, batch int, seed uint64) (*Batcher, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("batch size %d must be positive", batch)
	}
	if set.Len() == 0 {
		return nil, fmt.Errorf("batcher over an empty set")
	}
	b := &Batcher{set: set, batch: batch, seed: seed, perm: make([]int32, set.Len())}
	b.shuffle()
	return b, nil
}

// BatchSize is the configured batch size.
func (b *Batcher) BatchSize() int { return b.batch }

// Seed is the shuffling seed.
func (b *Batcher) Seed() uint64 { return b.seed }

func (b *Batcher) shuffle() {
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(b.seed, uint64(b.Epoch)))
	rng.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
}

// SetState jumps to a saved (epoch, pos).
func (b *Batcher) SetState(epoch, pos int) error {
	if epoch < 0 || pos < 0 || pos > len(b.perm) {
		return fmt.Errorf("batcher state epoch %d pos %d out of range (set has %d images)", epoch, pos, len(b.perm))
	}
	b.Epoch, b.Pos = epoch, pos
	b.shuffle()
	return nil
}

// Next fills x (batch*Pixels floats) and y (batch labels) with the next full
// batch, starting a new epoch when fewer than batch images are left (the
// remainder of an epoch is dropped so every step has the same batch size).
func (b *Batcher) Next(x []float32, y []int) {
	if b.Pos+b.batch > len(b.perm) {
		b.Epoch++
		b.Pos = 0
		b.shuffle()
	}
	for i := 0; i < b.batch; i++ {
		// With a set smaller than the batch, wrap within the epoch's order.
		k := int(b.perm[(b.Pos+i)%len(b.perm)])
		copy(x[i*Pixels:(i+1)*Pixels], b.set.Image(k))
		y[i] = int(b.set.Labels[k])
	}
	b.Pos += b.batch
	if b.Pos > len(b.perm) {
		b.Pos = len(b.perm)
	}
}

// State returns (Epoch, Pos) for checkpoints.
func (b *Batcher) State() (epoch, pos int) { return b.Epoch, b.Pos }
