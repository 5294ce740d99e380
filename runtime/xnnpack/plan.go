//go:build cgo

package xnnpack

import (
	"errors"
	"fmt"
	"unsafe"

	"edgenas/runtime"
	"edgenas/tflite"
)

// Plan decides where each operator of m runs, as Load would: operators the
// XNNPACK library accepts are grouped, in execution order, into partitions
// of consecutive operators; every other operator is a "ref" node carrying
// the reason XNNPACK refused it. It fails, naming the operator, when an
// operator can run on neither.
func (Backend) Plan(m *tflite.Model) ([]Partition, error) {
	return planModel(m, false)
}

// planModel is Plan; perOp makes every operator XNNPACK accepts a partition of
// its own (runtime.Options.PerOperator).
func planModel(m *tflite.Model, perOp bool) ([]Partition, error) {
	if m == nil {
		return nil, fmt.Errorf("nil model")
	}
	if err := runtime.Unmodelled(backendXNNPACK, m); err != nil {
		return nil, err
	}
	consumers, err := checkGraph(m)
	if err != nil {
		return nil, err
	}
	for _, t := range m.Tensors {
		if t.Type.Size() == 0 {
			return nil, fmt.Errorf("tensor %q: type %v not supported", t.Name, t.Type)
		}
	}
	if err := xnnInit(); err != nil {
		return nil, err
	}
	reasons := make([]error, len(m.Operators))
	for i := range m.Operators {
		reasons[i] = probe(m, i)
	}
	graphOut := map[int]bool{}
	for _, t := range m.Outputs {
		graphOut[t] = true
	}
	// group makes maximal runs of delegated operators; per operator, no
	// operator joins a run, so each is a node of its own.
	groups := group(len(m.Operators), func(i int) bool { return !perOp && reasons[i] == nil })
	var out []Partition
	unsupported := &runtime.UnsupportedError{Backend: backendXNNPACK}
	for _, ops := range groups {
		p := Partition{Backend: backendXNNPACK, Ops: ops}
		p.Inputs, p.Outputs = borders(m, ops, consumers, graphOut)
		if reason := reasons[ops[0]]; reason != nil {
			i := ops[0]
			if _, err := newRefKernel(m, i); err != nil {
				unsupported.Ops = append(unsupported.Ops, runtime.UnsupportedOp{Index: i, Name: m.Operators[i].Name(),
					Reason: refusal(reason, err)})
			}
			p.Backend, p.Reason = backendRef, reason.Error()
		}
		out = append(out, p)
	}
	if len(unsupported.Ops) > 0 {
		return nil, unsupported
	}
	return out, nil
}

// probe defines operator i alone in a scratch subgraph and creates and sets
// up a runtime from it: nil means this XNNPACK build accepts the operator
// with these exact shapes, types and parameters.
func probe(m *tflite.Model, i int) error {
	var arena cArena
	defer arena.free()
	op := &m.Operators[i]
	ext := map[int]extValue{}
	var order []int
	add := func(t int, flags uint32) {
		if t < 0 || m.Tensors[t].IsConst() {
			return
		}
		if e, ok := ext[t]; ok {
			ext[t] = extValue{e.id, e.flags | flags}
			return
		}
		ext[t] = extValue{uint32(len(order)), flags}
		order = append(order, t)
	}
	for _, t := range op.Inputs {
		add(t, flagExternalInput)
	}
	for _, t := range op.Outputs {
		add(t, flagExternalOutput)
	}
	b, err := newBuilder(m, &arena, ext)
	if err != nil {
		return err
	}
	if err := b.defineOp(i); err != nil {
		b.discard()
		return err
	}
	rt, err := b.build(nil)
	if err != nil {
		return err
	}
	defer rt.delete()
	ids, ptrs := make([]uint32, len(order)), make([]unsafe.Pointer, len(order))
	for k, t := range order {
		p, err := arena.alloc(m.Tensors[t].Bytes())
		if err != nil {
			return err
		}
		ids[k], ptrs[k] = uint32(k), p
	}
	return rt.setup(ids, ptrs)
}

// Supports reports whether this backend runs operator op of m: on XNNPACK
// (reason "xnnpack"), on the reference kernels as fallback (reason "ref
// fallback: " and why XNNPACK refused), or not at all (why).
func (Backend) Supports(m *tflite.Model, op int) (bool, string) {
	if m == nil || op < 0 || op >= len(m.Operators) {
		return false, "no such operator"
	}
	if r := runtime.UnmodelledReason(m, &m.Operators[op]); r != "" {
		return false, r
	}
	if err := xnnInit(); err != nil {
		return false, err.Error()
	}
	xerr := probe(m, op)
	if xerr == nil {
		return true, backendXNNPACK
	}
	if _, err := newRefKernel(m, op); err != nil {
		return false, refusal(xerr, err)
	}
	return true, "ref fallback: " + xerr.Error()
}

// refusal says why neither XNNPACK (xerr) nor the reference kernels (rerr,
// which names the operator the caller already names) run an operator.
func refusal(xerr, rerr error) string {
	if inner := errors.Unwrap(rerr); inner != nil {
		rerr = inner
	}
	return fmt.Sprintf("not accepted by XNNPACK (%v) nor by the reference kernels (%v)", xerr, rerr)
}
