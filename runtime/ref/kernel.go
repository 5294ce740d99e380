package ref

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"edgenas/runtime"
	"edgenas/tflite"
)

// Kernel runs one operator of a model on a tensor arena indexed by model
// tensor index: bufs[i] holds tensor i's bytes (constants included, filled by
// the caller with Tensor.Data; activations preallocated by the caller with the
// tensor's size). Eval does not allocate. A Kernel owns scratch memory, so
// one Kernel must not run Eval concurrently with itself.
type Kernel interface {
	Eval(bufs [][]byte) error
}

// NewKernel validates operator op of m and precomputes its parameters
// (multipliers, padding, packed weights). An unsupported operator, type or
// configuration is an error naming the operator index and name.
//
// Weights and biases of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED must
// be constant: they are read from the model here, not from bufs.
func NewKernel(m *tflite.Model, op int) (Kernel, error) {
	if m == nil {
		return nil, errors.New("nil model")
	}
	if op < 0 || op >= len(m.Operators) {
		return nil, fmt.Errorf("operator %d: out of range (%d operators)", op, len(m.Operators))
	}
	o := &m.Operators[op]
	k, err := newKernel(m, o)
	if err != nil {
		return nil, fmt.Errorf("operator %d (%v): %w", op, o.Op, err)
	}
	return k, nil
}

func newKernel(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	if r := runtime.UnmodelledReason(m, o); r != "" {
		return nil, errors.New(r)
	}
	if len(o.Outputs) != 1 {
		return nil, fmt.Errorf("%d outputs, want 1", len(o.Outputs))
	}
	for i, t := range o.Inputs {
		if t == -1 {
			continue
		}
		if t < 0 || t >= len(m.Tensors) {
			return nil, fmt.Errorf("input %d: tensor index %d out of range", i, t)
		}
	}
	if t := o.Outputs[0]; t < 0 || t >= len(m.Tensors) {
		return nil, fmt.Errorf("output: tensor index %d out of range", t)
	}
	for _, t := range append(append([]int(nil), o.Inputs...), o.Outputs...) {
		if t >= 0 && m.Tensors[t].Type.Size() == 0 {
			return nil, fmt.Errorf("tensor %d has unsupported type %v", t, m.Tensors[t].Type)
		}
	}
	switch o.Op {
	case tflite.OpConv2D:
		return newConv(m, o)
	case tflite.OpDepthwiseConv2D:
		return newDepthwise(m, o)
	case tflite.OpFullyConnected:
		return newFullyConnected(m, o)
	case tflite.OpAdd, tflite.OpMul:
		return newBinary(m, o)
	case tflite.OpAveragePool2D:
		return newAvgPool(m, o)
	case tflite.OpMean:
		return newMean(m, o)
	case tflite.OpSoftmax:
		return newSoftmax(m, o)
	case tflite.OpLogistic:
		return newLogistic(m, o)
	case tflite.OpHardSwish:
		return newHardSwish(m, o)
	case tflite.OpReshape:
		return newReshape(m, o)
	case tflite.OpPad:
		return newPad(m, o)
	case tflite.OpTranspose:
		return newTranspose(m, o)
	case tflite.OpQuantize:
		return newQuantize(m, o)
	case tflite.OpDequantize:
		return newDequantize(m, o)
	case tflite.OpMaxPool2D:
		return newMaxPool(m, o)
	case tflite.OpSub:
		return newSub(m, o)
	case tflite.OpMaximum, tflite.OpMinimum:
		return newMaxMin(m, o)
	case tflite.OpConcatenation:
		return newConcat(m, o)
	case tflite.OpSqueeze:
		return newSqueeze(m, o)
	case tflite.OpStridedSlice:
		return newStridedSlice(m, o)
	case tflite.OpResizeNearestNeighbor:
		return newResizeNearest(m, o)
	case tflite.OpResizeBilinear:
		return newResizeBilinear(m, o)
	case tflite.OpTransposeConv:
		return newTransposeConv(m, o)
	}
	return nil, errors.New("operator not supported by the reference backend")
}

// opTensors gives a kernel constructor checked access to an operator's tensors.
type opTensors struct {
	m *tflite.Model
	o *tflite.Operator
}

// in returns input i, or nil when it is absent or omitted (-1).
func (t opTensors) in(i int) *tflite.Tensor {
	if i >= len(t.o.Inputs) || t.o.Inputs[i] < 0 {
		return nil
	}
	return &t.m.Tensors[t.o.Inputs[i]]
}

func (t opTensors) inIdx(i int) int {
	if i >= len(t.o.Inputs) {
		return -1
	}
	return t.o.Inputs[i]
}

func (t opTensors) out() *tflite.Tensor { return &t.m.Tensors[t.o.Outputs[0]] }
func (t opTensors) outIdx() int         { return t.o.Outputs[0] }

// need checks the operator has at least n inputs, all present.
func (t opTensors) need(n int) error {
	if len(t.o.Inputs) < n {
		return fmt.Errorf("%d inputs, want at least %d", len(t.o.Inputs), n)
	}
	for i := range n {
		if t.o.Inputs[i] < 0 {
			return fmt.Errorf("input %d is omitted", i)
		}
	}
	return nil
}

// quantParams returns a tensor's per-tensor scale and zero point.
func quantParams(t *tflite.Tensor, what string) (float32, int32, error) {
	if t.Quant == nil || len(t.Quant.Scale) == 0 || len(t.Quant.ZeroPoint) == 0 {
		return 0, 0, fmt.Errorf("%s tensor %q of type %v has no quantization parameters", what, t.Name, t.Type)
	}
	if len(t.Quant.Scale) != 1 {
		return 0, 0, fmt.Errorf("%s tensor %q: per-channel quantization (%d scales) not supported here", what, t.Name, len(t.Quant.Scale))
	}
	s := t.Quant.Scale[0]
	if !(s > 0) || math.IsInf(float64(s), 0) {
		return 0, 0, fmt.Errorf("%s tensor %q: scale %v", what, t.Name, s)
	}
	return s, int32(t.Quant.ZeroPoint[0]), nil
}

// ioQuant returns the per-tensor quantization of an operator's input and
// output.
func ioQuant(in, out *tflite.Tensor) (inS float32, inZ int32, outS float32, outZ int32, err error) {
	if inS, inZ, err = quantParams(in, "input"); err != nil {
		return 0, 0, 0, 0, err
	}
	outS, outZ, err = quantParams(out, "output")
	return inS, inZ, outS, outZ, err
}

func sameShape(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func numElements(shape []int32) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// checkBuf reports a missing buffer or one shorter than size bytes.
func checkBuf(bufs [][]byte, idx, size int) error {
	if idx < 0 || idx >= len(bufs) {
		return fmt.Errorf("tensor %d: no buffer (%d buffers)", idx, len(bufs))
	}
	if len(bufs[idx]) < size {
		return fmt.Errorf("tensor %d: buffer of %d bytes, need %d", idx, len(bufs[idx]), size)
	}
	return nil
}

// i8 views b as int8 values.
func i8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// f32 views b as float32 values; b must be 4-byte aligned (checked by f32buf).
func f32(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// f32buf checks a float tensor's buffer and returns its float32 view.
func f32buf(bufs [][]byte, idx, n int) ([]float32, error) {
	if err := checkBuf(bufs, idx, 4*n); err != nil {
		return nil, err
	}
	b := bufs[idx]
	if n > 0 && uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, fmt.Errorf("tensor %d: float32 buffer not 4-byte aligned", idx)
	}
	return f32(b)[:n], nil
}

// i8buf checks an int8 tensor's buffer and returns its int8 view.
func i8buf(bufs [][]byte, idx, n int) ([]int8, error) {
	if err := checkBuf(bufs, idx, n); err != nil {
		return nil, err
	}
	return i8(bufs[idx])[:n], nil
}

// decodeFloat32s and decodeInt32s read little-endian constant data.
func decodeFloat32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}

func decodeInt32s(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}

// constInts reads a constant int32 (or int64) tensor such as axes, a
// permutation or paddings.
func constInts(t *tflite.Tensor, what string) ([]int, error) {
	if t == nil {
		return nil, fmt.Errorf("%s input missing", what)
	}
	if !t.IsConst() {
		return nil, fmt.Errorf("%s tensor %q must be constant", what, t.Name)
	}
	switch t.Type {
	case tflite.Int32:
		v := decodeInt32s(t.Data)
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out, nil
	case tflite.Int64:
		out := make([]int, len(t.Data)/8)
		for i := range out {
			var u uint64
			for j := 7; j >= 0; j-- {
				u = u<<8 | uint64(t.Data[8*i+j])
			}
			out[i] = int(int64(u))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s tensor %q has type %v, want int32", what, t.Name, t.Type)
}

// activationRangeQuantized is TFLite's CalculateActivationRangeQuantized for
// an int8 output.
func activationRangeQuantized(a tflite.Activation, scale float32, zp int32) (int32, int32, error) {
	quantize := func(f float32) int32 { return zp + int32(roundHalfAway32(f/scale)) }
	lo, hi := int32(math.MinInt8), int32(math.MaxInt8)
	switch a {
	case tflite.ActNone:
	case tflite.ActRelu:
		lo = max(lo, quantize(0))
	case tflite.ActRelu6:
		lo = max(lo, quantize(0))
		hi = min(hi, quantize(6))
	case tflite.ActReluN1To1:
		lo = max(lo, quantize(-1))
		hi = min(hi, quantize(1))
	default:
		return 0, 0, fmt.Errorf("fused activation %v not supported", a)
	}
	return lo, hi, nil
}

// activationRangeFloat is TFLite's CalculateActivationRange for float32.
func activationRangeFloat(a tflite.Activation) (float32, float32, error) {
	inf := float32(math.Inf(1))
	switch a {
	case tflite.ActNone:
		return -inf, inf, nil
	case tflite.ActRelu:
		return 0, inf, nil
	case tflite.ActRelu6:
		return 0, 6, nil
	case tflite.ActReluN1To1:
		return -1, 1, nil
	}
	return 0, 0, fmt.Errorf("fused activation %v not supported", a)
}

func clampF(x, lo, hi float32) float32 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func unsafeBytes(w []uint64) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w))
}

func uintptrOf(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}
