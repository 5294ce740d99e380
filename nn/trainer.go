package nn

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Batches is a resumable source of training minibatches
// (fmnist.Batcher implements it).
type Batches interface {
	// Next fills x (BatchSize images) and y (BatchSize labels).
	Next(x []float32, y []int)
	BatchSize() int
	// State and SetState save and restore the position in the data order.
	State() (epoch, pos int)
	SetState(epoch, pos int) error
}

// Trainer runs the standard loop (batch, forward/backward, scheduled
// optimizer step) and checkpoints it so a crashed run resumes exactly.
type Trainer struct {
	Net   *Net
	Opt   *Optimizer
	Sched Schedule
	Data  Batches
	// Arch names the network in checkpoints; Resume refuses a different one.
	Arch string
	// Step counts completed optimizer steps.
	Step int
	x    []float32
	y    []int
}

// NewTrainer checks the pieces fit together.
func NewTrainer(arch string, net *Net, opt *Optimizer, sched Schedule, data Batches) (*Trainer, error) {
	if err := sched.Validate(); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	if data.BatchSize() <= 0 {
		return nil, fmt.Errorf("trainer: batch size %d", data.BatchSize())
	}
	bs := data.BatchSize()
	return &Trainer{Net: net, Opt: opt, Sched: sched, Data: data, Arch: arch,
		x: make([]float32, bs*net.InH*net.InW*net.InC), y: make([]int, bs)}, nil
}

// TrainStep trains on the next batch and returns its loss and accuracy.
func (t *Trainer) TrainStep() (loss, acc float64, err error) {
	t.Data.Next(t.x, t.y)
	loss, correct, err := t.Net.TrainStep(t.x, t.y)
	if err != nil {
		return 0, 0, fmt.Errorf("step %d: %w", t.Step, err)
	}
	t.Opt.Step(t.Sched.LR(t.Step))
	t.Step++
	return loss, float64(correct) / float64(len(t.y)), nil
}

// Snapshot copies the whole training state (weights, optimizer, data
// position, step) into a checkpoint.
func (t *Trainer) Snapshot() (*Checkpoint, error) {
	ck, err := Snapshot(t.Arch, int64(t.Step), t.Net, t.Opt)
	if err != nil {
		return nil, err
	}
	ep, pos := t.Data.State()
	ck.Extra["data"] = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(ep)), uint64(pos))
	return ck, nil
}

// Restore loads a checkpoint taken by Snapshot of the same network
// (checked by Arch), changing nothing when it does not fit.
func (t *Trainer) Restore(ck *Checkpoint) error {
	if ck.Arch != t.Arch {
		return fmt.Errorf("checkpoint is for %q, training %q", ck.Arch, t.Arch)
	}
	d := ck.Extra["data"]
	if len(d) != 16 {
		return fmt.Errorf("checkpoint has no data position")
	}
	if err := ck.Restore(t.Net, t.Opt); err != nil {
		return err
	}
	if err := t.Data.SetState(int(binary.LittleEndian.Uint64(d)), int(binary.LittleEndian.Uint64(d[8:]))); err != nil {
		return err
	}
	t.Step = int(ck.Step)
	return nil
}

// Save writes a checkpoint of the whole training state to path, atomically.
func (t *Trainer) Save(path string) error {
	ck, err := t.Snapshot()
	if err != nil {
		return err
	}
	return ck.Save(path)
}

// Resume restores the state saved at path. It reports false, with no
// error, when there is no checkpoint yet (a fresh run).
func (t *Trainer) Resume(path string) (bool, error) {
	ck, err := LoadCheckpoint(path)
	if errors.Is(err, ErrNoCheckpoint) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := t.Restore(ck); err != nil {
		return false, fmt.Errorf("resume %s: %w", path, err)
	}
	return true, nil
}
