//go:build cgo

package xnnpack

/*
#cgo LDFLAGS: -lXNNPACK -lpthreadpool
#include <stdlib.h>
#include <xnnpack.h>
#include <pthreadpool.h>
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// extraBytes is XNN_EXTRA_BYTES: XNNPACK's vector kernels may read this many
// bytes past the end of an input, so every buffer handed to it is padded.
const extraBytes = C.XNN_EXTRA_BYTES

// invalidID is XNN_INVALID_VALUE_ID ("no bias", "allocate an internal id").
const invalidID = C.uint32_t(C.XNN_INVALID_VALUE_ID)

// xnnInit guards xnn_initialize, which the C library requires exactly once
// per process before any other call (it fills process-wide code tables).
var xnnInit = sync.OnceValue(func() error {
	return check("xnn_initialize", C.xnn_initialize(nil))
})

var statusNames = map[C.enum_xnn_status]string{
	C.xnn_status_uninitialized:         "uninitialized",
	C.xnn_status_invalid_parameter:     "invalid parameter",
	C.xnn_status_invalid_state:         "invalid state",
	C.xnn_status_unsupported_parameter: "unsupported parameter",
	C.xnn_status_unsupported_hardware:  "unsupported hardware",
	C.xnn_status_out_of_memory:         "out of memory",
}

// check turns an xnn_status into an error naming the call that failed.
func check(call string, st C.enum_xnn_status) error {
	if st == C.xnn_status_success {
		return nil
	}
	name, ok := statusNames[st]
	if !ok {
		name = fmt.Sprintf("status %d", int(st))
	}
	return fmt.Errorf("%s: %s", call, name)
}

// cArena owns C allocations: activation buffers and static data, which must
// live in C memory because XNNPACK keeps the pointers beyond the call that
// received them (cgo forbids C from retaining Go pointers).
type cArena struct {
	ptrs []unsafe.Pointer
}

// alloc returns n zeroed bytes followed by XNN_EXTRA_BYTES of padding.
func (a *cArena) alloc(n int) (unsafe.Pointer, error) {
	p := C.calloc(C.size_t(n+extraBytes), 1)
	if p == nil {
		return nil, fmt.Errorf("out of C memory allocating %d bytes", n)
	}
	a.ptrs = append(a.ptrs, p)
	return p, nil
}

// bytes allocates n bytes and views them as a Go slice of length n.
func (a *cArena) bytes(n int) ([]byte, error) {
	p, err := a.alloc(n)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// copyOf copies b into C memory.
func (a *cArena) copyOf(b []byte) (unsafe.Pointer, error) {
	s, err := a.bytes(len(b))
	if err != nil {
		return nil, err
	}
	copy(s, b)
	return unsafe.Pointer(unsafe.SliceData(s)), nil
}

// floats copies f into C memory (per-channel scales, which XNNPACK keeps).
func (a *cArena) floats(f []float32) (*C.float, error) {
	s, err := a.bytes(4 * len(f))
	if err != nil {
		return nil, err
	}
	copy(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(f)), f)
	return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))), nil
}

// free releases every allocation; the arena may be reused afterwards.
func (a *cArena) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	a.ptrs = nil
}

// threadpool is a pthreadpool, or nil for single-threaded runs (XNNPACK
// then computes on the calling thread).
type threadpool = C.pthreadpool_t

func newThreadpool(threads int) (threadpool, error) {
	if threads <= 1 {
		return nil, nil
	}
	tp := C.pthreadpool_create(C.size_t(threads))
	if tp == nil {
		return nil, fmt.Errorf("pthreadpool_create(%d) failed", threads)
	}
	return tp, nil
}

func deleteThreadpool(tp threadpool) {
	if tp != nil {
		C.pthreadpool_destroy(tp)
	}
}

// xrt is one XNNPACK runtime built from a subgraph.
type xrt struct {
	rt C.xnn_runtime_t
}

// createRuntime turns sg into a runtime; sg is deleted either way (a runtime
// is independent of its subgraph once created).
func createRuntime(sg C.xnn_subgraph_t, tp threadpool) (*xrt, error) {
	var rt C.xnn_runtime_t
	err := check("xnn_create_runtime_v2", C.xnn_create_runtime_v2(sg, tp, 0, &rt))
	C.xnn_delete_subgraph(sg)
	if err != nil {
		return nil, err
	}
	return &xrt{rt: rt}, nil
}

// setup binds the runtime's external values, by id, to C buffers. It is
// called once: the buffers never move, so Invoke needs no setup.
func (r *xrt) setup(ids []uint32, ptrs []unsafe.Pointer) error {
	ext := (*C.struct_xnn_external_value)(C.calloc(C.size_t(len(ids)+1), C.size_t(unsafe.Sizeof(C.struct_xnn_external_value{}))))
	if ext == nil {
		return fmt.Errorf("out of C memory for %d external values", len(ids))
	}
	defer C.free(unsafe.Pointer(ext))
	vals := unsafe.Slice(ext, len(ids))
	for i := range ids {
		vals[i].id = C.uint32_t(ids[i])
		vals[i].data = ptrs[i]
	}
	return check("xnn_setup_runtime", C.xnn_setup_runtime(r.rt, C.size_t(len(ids)), ext))
}

func (r *xrt) invoke() error {
	return check("xnn_invoke_runtime", C.xnn_invoke_runtime(r.rt))
}

func (r *xrt) delete() {
	if r != nil && r.rt != nil {
		C.xnn_delete_runtime(r.rt)
		r.rt = nil
	}
}
