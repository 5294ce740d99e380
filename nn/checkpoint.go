package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"edgenas/internal/atomicfile"
)

const ckptMagic = "EDGENAS-NN-CKPT1\n"

// Checkpoint is everything needed to resume training exactly: weights,
// batch-norm running statistics, optimizer configuration and slots, the
// step, and caller state (data order, RNG) in Extra.
type Checkpoint struct {
	// Arch identifies the network (an architecture string); Restore does not
	// interpret it, callers compare it.
	Arch    string
	Step    int64
	Tensors map[string][]float32
	Opt     OptConfig
	// OptSteps and Slots are the optimizer state, slots keyed by param name.
	OptSteps int64
	Slots    map[string][2][]float32
	// Extra holds caller state, e.g. a marshalled *rand.PCG or batcher position.
	Extra map[string][]byte
}

// Snapshot copies the state of net and opt (opt may be nil) into a checkpoint.
func Snapshot(arch string, step int64, net *Net, opt *Optimizer) (*Checkpoint, error) {
	ck := &Checkpoint{Arch: arch, Step: step, Tensors: map[string][]float32{}, Slots: map[string][2][]float32{}, Extra: map[string][]byte{}}
	for _, p := range append(net.Params(), net.Buffers()...) {
		if _, dup := ck.Tensors[p.Name]; dup {
			return nil, fmt.Errorf("snapshot: duplicate tensor name %q", p.Name)
		}
		ck.Tensors[p.Name] = append([]float32(nil), p.W...)
	}
	if opt != nil {
		ck.Opt, ck.OptSteps = opt.Cfg, opt.Steps
		for i, p := range opt.params {
			ck.Slots[p.Name] = [2][]float32{append([]float32(nil), opt.Slots[0][i]...), append([]float32(nil), opt.Slots[1][i]...)}
		}
	}
	return ck, nil
}

// Restore loads the checkpoint into net and opt (opt may be nil), checking
// that every tensor is present with the right size before changing anything.
func (ck *Checkpoint) Restore(net *Net, opt *Optimizer) error {
	all := append(net.Params(), net.Buffers()...)
	for _, p := range all {
		w, ok := ck.Tensors[p.Name]
		if !ok {
			return fmt.Errorf("restore: checkpoint has no tensor %q", p.Name)
		}
		if len(w) != len(p.W) {
			return fmt.Errorf("restore: tensor %q has %d values, network wants %d", p.Name, len(w), len(p.W))
		}
	}
	if len(ck.Tensors) != len(all) {
		return fmt.Errorf("restore: checkpoint has %d tensors, network %d", len(ck.Tensors), len(all))
	}
	if opt != nil {
		if ck.Opt != opt.Cfg {
			return fmt.Errorf("restore: checkpoint optimizer %+v differs from %+v", ck.Opt, opt.Cfg)
		}
		for _, p := range opt.params {
			s, ok := ck.Slots[p.Name]
			if !ok || len(s[0]) != len(p.W) || len(s[1]) != len(p.W) {
				return fmt.Errorf("restore: optimizer state for %q missing or mis-sized", p.Name)
			}
		}
	}
	for _, p := range all {
		copy(p.W, ck.Tensors[p.Name])
	}
	if opt != nil {
		opt.Steps = ck.OptSteps
		for i, p := range opt.params {
			s := ck.Slots[p.Name]
			copy(opt.Slots[0][i], s[0])
			copy(opt.Slots[1][i], s[1])
		}
	}
	return nil
}

// Save writes the checkpoint atomically: a crash during Save leaves the
// previous checkpoint intact. The file is a magic line, a gob payload and
// a CRC-32 of the payload.
func (ck *Checkpoint) Save(path string) error {
	var buf bytes.Buffer
	buf.WriteString(ckptMagic)
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		return fmt.Errorf("checkpoint %s: encode: %w", path, err)
	}
	sum := crc32.ChecksumIEEE(buf.Bytes()[len(ckptMagic):])
	buf.Write(binary.LittleEndian.AppendUint32(nil, sum))
	return atomicfile.WriteFile(path, buf.Bytes())
}

// ErrNoCheckpoint is returned (wrapped) by LoadCheckpoint when the file does not exist.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LoadCheckpoint reads and verifies a checkpoint written by Save.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", path, ErrNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if len(data) < len(ckptMagic)+4 || string(data[:len(ckptMagic)]) != ckptMagic {
		return nil, fmt.Errorf("checkpoint %s: not an edgenas nn checkpoint (bad magic)", path)
	}
	payload := data[len(ckptMagic) : len(data)-4]
	if crc32.ChecksumIEEE(payload) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("checkpoint %s: checksum mismatch (truncated or corrupt)", path)
	}
	ck := &Checkpoint{}
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(ck); err != nil {
		return nil, fmt.Errorf("checkpoint %s: decode: %w", path, err)
	}
	return ck, nil
}
