//go:build cgo

package xnnpack

/*
#include <stdlib.h>
#include <xnnpack.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"edgenas/tflite"
)

// builder translates model operators into one XNNPACK subgraph. Tensors
// crossing the subgraph's boundary are external values with ids 0..n-1 (the
// index in ext); all others get internal ids that XNNPACK allocates and
// plans memory for.
type builder struct {
	m     *tflite.Model
	sg    C.xnn_subgraph_t
	arena *cArena // static data and per-channel scales; must outlive the runtime
	ids   []C.uint32_t
	ext   map[int]extValue
}

// extValue is a tensor's external id and XNN_VALUE_FLAG_EXTERNAL_* flags.
type extValue struct {
	id    uint32
	flags uint32
}

const (
	flagExternalInput  = C.XNN_VALUE_FLAG_EXTERNAL_INPUT
	flagExternalOutput = C.XNN_VALUE_FLAG_EXTERNAL_OUTPUT
)

// newBuilder creates an empty subgraph whose external values are ext. The
// caller must call build or discard.
func newBuilder(m *tflite.Model, arena *cArena, ext map[int]extValue) (*builder, error) {
	if err := xnnInit(); err != nil {
		return nil, err
	}
	b := &builder{m: m, arena: arena, ext: ext, ids: make([]C.uint32_t, len(m.Tensors))}
	for i := range b.ids {
		b.ids[i] = invalidID
	}
	if err := check("xnn_create_subgraph", C.xnn_create_subgraph(C.uint32_t(len(ext)), 0, &b.sg)); err != nil {
		return nil, err
	}
	return b, nil
}

// discard deletes the subgraph without building a runtime.
func (b *builder) discard() {
	if b.sg != nil {
		C.xnn_delete_subgraph(b.sg)
		b.sg = nil
	}
}

// build creates the runtime (consuming the subgraph).
func (b *builder) build(tp threadpool) (*xrt, error) {
	sg := b.sg
	b.sg = nil
	return createRuntime(sg, tp)
}

// value defines tensor t (once) and returns its value id. channelDim is the
// channel dimension used if t is per-channel quantized (0 for conv and fully
// connected filters and for biases, 3 for depthwise filters).
func (b *builder) value(t int, channelDim int) (C.uint32_t, error) {
	if t < 0 || t >= len(b.m.Tensors) {
		return 0, fmt.Errorf("tensor index %d out of range", t)
	}
	if b.ids[t] != invalidID {
		return b.ids[t], nil
	}
	tensor := &b.m.Tensors[t]
	dims := make([]C.size_t, len(tensor.Shape))
	for i, d := range tensor.Shape {
		if d <= 0 {
			return 0, fmt.Errorf("tensor %q: dimension %d is %d", tensor.Name, i, d)
		}
		dims[i] = C.size_t(d)
	}
	var pdims *C.size_t
	if len(dims) > 0 {
		pdims = &dims[0]
	}
	var data unsafe.Pointer
	if tensor.IsConst() {
		if len(tensor.Data) != tensor.Bytes() {
			return 0, fmt.Errorf("tensor %q: %d data bytes, shape needs %d", tensor.Name, len(tensor.Data), tensor.Bytes())
		}
		p, err := b.arena.copyOf(tensor.Data)
		if err != nil {
			return 0, err
		}
		data = p
	}
	extID, flags := invalidID, C.uint32_t(0)
	if e, ok := b.ext[t]; ok {
		extID, flags = C.uint32_t(e.id), C.uint32_t(e.flags)
	}
	var id C.uint32_t
	var st C.enum_xnn_status
	call := "xnn_define_quantized_tensor_value"
	switch tensor.Type {
	case tflite.Float32:
		call = "xnn_define_tensor_value"
		st = C.xnn_define_tensor_value(b.sg, C.xnn_datatype_fp32, C.size_t(len(dims)), pdims, data, extID, flags, &id)
	case tflite.Int8, tflite.Int32:
		q := tensor.Quant
		if q == nil || len(q.Scale) == 0 || len(q.ZeroPoint) == 0 {
			return 0, fmt.Errorf("tensor %q (%v) is not quantized", tensor.Name, tensor.Type)
		}
		dim := channelDim
		if len(tensor.Shape) == 1 {
			// Biases are 1-D; some converters record axis 3 for them anyway.
			dim = 0
		}
		per, err := channelwise(tensor, dim)
		if err != nil {
			return 0, err
		}
		if per {
			dt := C.enum_xnn_datatype(C.xnn_datatype_qcint8)
			if tensor.Type == tflite.Int32 {
				dt = C.xnn_datatype_qcint32
			}
			scales, err := b.arena.floats(q.Scale)
			if err != nil {
				return 0, err
			}
			call = "xnn_define_channelwise_quantized_tensor_value"
			st = C.xnn_define_channelwise_quantized_tensor_value(b.sg, dt, scales, C.size_t(len(dims)), C.size_t(dim), pdims, data, extID, flags, &id)
			break
		}
		dt := C.enum_xnn_datatype(C.xnn_datatype_qint8)
		if tensor.Type == tflite.Int32 {
			dt = C.xnn_datatype_qint32
		} else if _, _, err := perTensorInt8(tensor); err != nil {
			return 0, err
		}
		st = C.xnn_define_quantized_tensor_value(b.sg, dt, C.int32_t(q.ZeroPoint[0]), C.float(q.Scale[0]), C.size_t(len(dims)), pdims, data, extID, flags, &id)
	default:
		return 0, fmt.Errorf("tensor %q: type %v not supported", tensor.Name, tensor.Type)
	}
	if err := check(call, st); err != nil {
		return 0, fmt.Errorf("tensor %q: %w", tensor.Name, err)
	}
	b.ids[t] = id
	return id, nil
}

// values defines several tensors, all with channel dimension 0.
func (b *builder) values(ts ...int) ([]C.uint32_t, error) {
	ids := make([]C.uint32_t, len(ts))
	for i, t := range ts {
		id, err := b.value(t, 0)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// sizes converts a shape to XNNPACK dims.
func sizes(shape []int32) []C.size_t {
	out := make([]C.size_t, len(shape))
	for i, d := range shape {
		out[i] = C.size_t(d)
	}
	return out
}
