// Package ref is edgenas's pure-Go reference backend. Its int8 kernels are
// bit-faithful ports of TFLite's reference kernels (integer requantization
// with QuantizeMultiplier / MultiplyByQuantizedMultiplier, per-channel
// convolutions, ADD's 20-bit headroom scheme, gemmlowp fixed-point softmax);
// its float32 kernels run the same operators, chosen by tensor type, so
// float models (for calibration and as a numerical reference) run in the same
// interpreter.
//
// The interpreter is single-threaded: Options.Threads is accepted and
// ignored, since the backend exists for correctness, not speed.
package ref

import (
	"errors"
	"fmt"
	"time"

	"edgenas/runtime"
	"edgenas/tflite"
)

// Backend implements runtime.Backend with the reference kernels. The zero
// value is ready to use.
type Backend struct{}

// Name returns "ref".
func (Backend) Name() string { return "ref" }

// Load validates m, builds a kernel for every operator and allocates one
// arena holding every tensor (at most MaxArenaBytes). Options.Threads is ignored.
func (Backend) Load(m *tflite.Model, opts runtime.Options) (runtime.Interpreter, error) {
	if m == nil {
		return nil, errors.New("ref: nil model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("ref: %w", err)
	}
	// Sizes first: kernels allocate by tensor shapes too, so nothing is
	// allocated for a model whose tensors would not fit.
	offsets, total, err := arenaLayout(m)
	if err != nil {
		return nil, fmt.Errorf("ref: %w", err)
	}
	it := &interpreter{model: m, kernels: make([]Kernel, len(m.Operators)), profile: make([]runtime.NodeProfile, len(m.Operators))}
	unsupported := &runtime.UnsupportedError{Backend: "ref"}
	for i := range m.Operators {
		o := &m.Operators[i]
		k, err := newKernel(m, o)
		if err != nil {
			unsupported.Ops = append(unsupported.Ops, runtime.UnsupportedOp{Index: i, Name: o.Name(), Reason: err.Error()})
			continue
		}
		it.kernels[i] = k
		it.profile[i] = runtime.NodeProfile{Name: o.Op.String(), Backend: "ref", Ops: []int{i}}
	}
	if len(unsupported.Ops) > 0 {
		return nil, unsupported
	}
	it.bufs = allocArena(m, offsets, total)
	return it, nil
}

// Supports reports whether the reference kernels run operator op of m;
// reason is "ref" or why not.
func (Backend) Supports(m *tflite.Model, op int) (bool, string) {
	if m == nil || op < 0 || op >= len(m.Operators) {
		return false, "no such operator"
	}
	if _, err := newKernel(m, &m.Operators[op]); err != nil {
		return false, err.Error()
	}
	return true, "ref"
}

type interpreter struct {
	model   *tflite.Model
	kernels []Kernel
	bufs    [][]byte
	profile []runtime.NodeProfile
	closed  bool
}

func (it *interpreter) Model() *tflite.Model { return it.model }

func (it *interpreter) SetInput(i int, data []byte) error {
	if it.closed {
		return errors.New("ref: interpreter closed")
	}
	if i < 0 || i >= len(it.model.Inputs) {
		return fmt.Errorf("ref: input %d out of range (%d inputs)", i, len(it.model.Inputs))
	}
	buf := it.bufs[it.model.Inputs[i]]
	if len(data) != len(buf) {
		t := it.model.Input(i)
		return fmt.Errorf("ref: input %d (%q, %v %v) needs %d bytes, got %d", i, t.Name, t.Type, t.Shape, len(buf), len(data))
	}
	copy(buf, data)
	return nil
}

func (it *interpreter) Invoke() error {
	if it.closed {
		return errors.New("ref: interpreter closed")
	}
	for i, k := range it.kernels {
		start := time.Now()
		err := k.Eval(it.bufs)
		p := &it.profile[i]
		p.Total += time.Since(start)
		p.Count++
		if err != nil {
			return fmt.Errorf("ref: operator %d (%v): %w", i, it.model.Operators[i].Op, err)
		}
	}
	return nil
}

func (it *interpreter) Output(i int) []byte {
	if it.closed || i < 0 || i >= len(it.model.Outputs) {
		return nil
	}
	return append([]byte(nil), it.bufs[it.model.Outputs[i]]...)
}

func (it *interpreter) Profile() []runtime.NodeProfile {
	out := make([]runtime.NodeProfile, len(it.profile))
	for i, p := range it.profile {
		p.Ops = append([]int(nil), p.Ops...)
		out[i] = p
	}
	return out
}

func (it *interpreter) ResetProfile() {
	for i := range it.profile {
		it.profile[i].Count = 0
		it.profile[i].Total = 0
	}
}

func (it *interpreter) Close() error {
	it.closed = true
	it.bufs = nil
	it.kernels = nil
	return nil
}
