//go:build cgo

package xnnpack

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"time"
	"unsafe"

	"edgenas/runtime"
	"edgenas/tflite"
)

// Load plans m (see Plan), builds one XNNPACK runtime per partition and one
// reference kernel per remaining operator, and allocates the activations
// that cross node boundaries in C memory. The interpreter holds C memory,
// XNNPACK runtimes and a thread pool: call Close when done (a GC cleanup
// frees them for an interpreter dropped without Close, but only whenever the
// collector gets to it).
func (Backend) Load(m *tflite.Model, opts runtime.Options) (runtime.Interpreter, error) {
	plan, err := planModel(m, opts.PerOperator)
	if err != nil {
		return nil, err
	}
	res := &resources{}
	ok := false
	defer func() {
		if !ok {
			res.free()
		}
	}()
	if res.pool, err = newThreadpool(opts.Threads); err != nil {
		return nil, err
	}
	it := &interp{m: m, res: res, plan: plan, bufs: make([][]byte, len(m.Tensors))}
	// Arena: constants as the model holds them (the reference kernels read
	// Go memory), activations that cross a boundary in C memory.
	for i := range m.Tensors {
		if m.Tensors[i].IsConst() {
			it.bufs[i] = m.Tensors[i].Data
		}
	}
	boundary := append(append([]int{}, m.Inputs...), m.Outputs...)
	for _, p := range plan {
		boundary = append(append(boundary, p.Inputs...), p.Outputs...)
	}
	for _, t := range boundary {
		if it.bufs[t] != nil || m.Tensors[t].IsConst() {
			continue
		}
		if it.bufs[t], err = res.mem.bytes(m.Tensors[t].Bytes()); err != nil {
			return nil, err
		}
	}
	it.nodes = make([]node, len(plan))
	it.prof = make([]runtime.NodeProfile, len(plan))
	for k := range plan {
		p := &plan[k]
		it.prof[k] = runtime.NodeProfile{Name: p.nodeName(m, opts.PerOperator), Backend: p.Backend, Ops: p.Ops}
		if p.Backend == backendRef {
			if it.nodes[k].kernel, err = newRefKernel(m, p.Ops[0]); err != nil {
				return nil, fmt.Errorf("operator %d (%v): %w", p.Ops[0], m.Operators[p.Ops[0]].Op, err)
			}
			continue
		}
		rt, err := it.buildPartition(p)
		if err != nil {
			return nil, fmt.Errorf("XNNPACK partition of operators %v: %w", p.Ops, err)
		}
		it.nodes[k].rt = rt
	}
	goruntime.AddCleanup(it, func(r *resources) { r.free() }, res)
	ok = true
	return it, nil
}

// buildPartition defines p's operators in one subgraph, creates its runtime
// on the interpreter's thread pool and binds its external values to the
// arena once and for all.
func (it *interp) buildPartition(p *Partition) (*xrt, error) {
	ext := map[int]extValue{}
	ts := append(append([]int{}, p.Inputs...), p.Outputs...)
	for k, t := range ts {
		flags := uint32(flagExternalInput)
		if k >= len(p.Inputs) {
			flags = flagExternalOutput
		}
		ext[t] = extValue{uint32(k), flags}
	}
	b, err := newBuilder(it.m, &it.res.static, ext)
	if err != nil {
		return nil, err
	}
	for _, i := range p.Ops {
		if err := b.defineOp(i); err != nil {
			b.discard()
			return nil, fmt.Errorf("operator %d (%v): %w", i, it.m.Operators[i].Op, err)
		}
	}
	rt, err := b.build(it.res.pool)
	if err != nil {
		return nil, err
	}
	it.res.runtimes = append(it.res.runtimes, rt)
	ids, ptrs := make([]uint32, len(ts)), make([]unsafe.Pointer, len(ts))
	for k, t := range ts {
		ids[k], ptrs[k] = uint32(k), unsafe.Pointer(unsafe.SliceData(it.bufs[t]))
	}
	return rt, rt.setup(ids, ptrs)
}

// resources are the native things an interpreter owns, kept apart from it
// so that a GC cleanup can free them without resurrecting the interpreter.
type resources struct {
	mem      cArena // activation buffers
	static   cArena // weights and scales XNNPACK points into
	runtimes []*xrt
	pool     threadpool
}

// free releases everything; it is idempotent. Runtimes go first: they use
// the pool and point into the static data.
func (r *resources) free() {
	for _, rt := range r.runtimes {
		rt.delete()
	}
	r.runtimes = nil
	deleteThreadpool(r.pool)
	r.pool = nil
	r.static.free()
	r.mem.free()
}

// node is one execution step: an XNNPACK runtime or a reference kernel.
type node struct {
	rt     *xrt
	kernel refKernel
}

type interp struct {
	m      *tflite.Model
	res    *resources
	plan   []Partition
	bufs   [][]byte
	nodes  []node
	prof   []runtime.NodeProfile
	closed bool
}

func (it *interp) Model() *tflite.Model { return it.m }

func (it *interp) SetInput(i int, data []byte) error {
	if it.closed {
		return errClosed
	}
	if i < 0 || i >= len(it.m.Inputs) {
		return fmt.Errorf("input %d out of range [0,%d)", i, len(it.m.Inputs))
	}
	buf := it.bufs[it.m.Inputs[i]]
	if len(data) != len(buf) {
		return fmt.Errorf("input %d: %d bytes, tensor %q needs %d", i, len(data), it.m.Input(i).Name, len(buf))
	}
	copy(buf, data)
	// buf is C memory the GC cleanup of it frees: keep it alive until here.
	goruntime.KeepAlive(it)
	return nil
}

var errClosed = errors.New("xnnpack interpreter is closed")

// Invoke runs the nodes in order. It allocates nothing: XNNPACK runtimes
// were set up at load on buffers that never move.
func (it *interp) Invoke() error {
	if it.closed {
		return errClosed
	}
	for k := range it.nodes {
		n := &it.nodes[k]
		start := time.Now()
		var err error
		if n.rt != nil {
			err = n.rt.invoke()
		} else {
			err = n.kernel.Eval(it.bufs)
		}
		it.prof[k].Total += time.Since(start)
		it.prof[k].Count++
		if err != nil {
			return fmt.Errorf("node %d (%s, operators %v): %w", k, it.prof[k].Name, it.prof[k].Ops, err)
		}
	}
	goruntime.KeepAlive(it)
	return nil
}

func (it *interp) Output(i int) []byte {
	if it.closed || i < 0 || i >= len(it.m.Outputs) {
		return nil
	}
	out := append([]byte(nil), it.bufs[it.m.Outputs[i]]...)
	goruntime.KeepAlive(it)
	return out
}

func (it *interp) Profile() []runtime.NodeProfile {
	out := make([]runtime.NodeProfile, len(it.prof))
	for k, p := range it.prof {
		p.Ops = append([]int(nil), p.Ops...)
		out[k] = p
	}
	return out
}

func (it *interp) ResetProfile() {
	for k := range it.prof {
		it.prof[k].Count, it.prof[k].Total = 0, 0
	}
}

// Plan returns (a copy of) the partitioning the interpreter runs, for
// callers asking which operator ran where: assert the interpreter to
// interface{ Plan() []Partition }.
func (it *interp) Plan() []Partition {
	out := make([]Partition, len(it.plan))
	for k, p := range it.plan {
		p.Ops = slices.Clone(p.Ops)
		p.Inputs, p.Outputs = slices.Clone(p.Inputs), slices.Clone(p.Outputs)
		out[k] = p
	}
	return out
}

func (it *interp) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.res.free()
	it.bufs = nil
	return nil
}
