package runtimetest

import (
	"fmt"

	"edgenas/tflite"
)

// Builders for the vision and audio operators (MAX_POOL_2D, CONCATENATION,
// SQUEEZE, STRIDED_SLICE, RESIZE_*, SUB, MAXIMUM, MINIMUM, TRANSPOSE_CONV),
// with the operator versions TFLite's converter writes for int8 operands.
const (
	versionSqueeze       = 1
	versionTransposeConv = 3 // per-channel int8
)

// MaxPool adds a MAX_POOL_2D; the output shares the input's quantization.
func (g *Graph) MaxPool(in, filterH, filterW, stride int, pad tflite.Padding, act tflite.Activation) int {
	sh := g.Shape(in)
	oh := tflite.ConvOutputSize(int(sh[1]), filterH, stride, 1, pad)
	ow := tflite.ConvOutputSize(int(sh[2]), filterW, stride, 1, pad)
	o := g.activation([]int32{sh[0], int32(oh), int32(ow), sh[3]}, g.QuantOf(in))
	return g.op(tflite.OpMaxPool2D, versionInt8, &tflite.Pool2DOptions{Padding: pad, StrideW: int32(stride),
		StrideH: int32(stride), FilterWidth: int32(filterW), FilterHeight: int32(filterH), Activation: act}, o, in)
}

// Concat adds a CONCATENATION along axis. Inputs must share one
// quantization (as TFLite requires for int8), which the output takes.
func (g *Graph) Concat(axis int, ins ...int) int {
	sh := append([]int32(nil), g.Shape(ins[0])...)
	a := axis
	if a < 0 {
		a += len(sh)
	}
	sh[a] = 0
	for _, in := range ins {
		sh[a] += g.Shape(in)[a]
	}
	o := g.activation(sh, g.QuantOf(ins[0]))
	return g.op(tflite.OpConcatenation, versionInt8, &tflite.ConcatenationOptions{Axis: int32(axis)}, o, ins...)
}

// Squeeze adds a SQUEEZE of dims (all size-1 dimensions when empty).
func (g *Graph) Squeeze(in int, dims ...int32) int {
	osh, err := tflite.SqueezedShape(g.Shape(in), dims)
	if err != nil {
		panic("runtimetest: " + err.Error())
	}
	o := g.activation(osh, g.QuantOf(in))
	return g.op(tflite.OpSqueeze, versionSqueeze, &tflite.SqueezeOptions{SqueezeDims: dims}, o, in)
}

// SliceSpec is a STRIDED_SLICE: begin, end and strides per dimension and
// the masks (bit i for dimension i).
type SliceSpec struct {
	Begin, End, Strides                []int32
	BeginMask, EndMask, ShrinkAxisMask int32
}

// StridedSlice adds a STRIDED_SLICE; the output shape follows TFLite's
// index rules (see sliceCount).
func (g *Graph) StridedSlice(in int, s SliceSpec) int {
	sh := g.Shape(in)
	var osh []int32
	for d, n := range sh {
		c := sliceCount(int(n), int(s.Begin[d]), int(s.End[d]), int(s.Strides[d]), s.BeginMask>>d&1 != 0, s.EndMask>>d&1 != 0)
		if s.ShrinkAxisMask>>d&1 != 0 {
			continue
		}
		osh = append(osh, int32(c))
	}
	r := int32(len(sh))
	b, e, st := g.constInt32([]int32{r}, s.Begin), g.constInt32([]int32{r}, s.End), g.constInt32([]int32{r}, s.Strides)
	o := g.activation(osh, g.QuantOf(in))
	return g.op(tflite.OpStridedSlice, versionInt8, &tflite.StridedSliceOptions{BeginMask: s.BeginMask, EndMask: s.EndMask,
		ShrinkAxisMask: s.ShrinkAxisMask}, o, in, b, e, st)
}

// sliceCount is the number of elements one dimension of a strided slice
// keeps (Python slicing with TFLite's clamping).
func sliceCount(dim, begin, end, stride int, beginMask, endMask bool) int {
	norm := func(v, lo, hi int) int {
		if v < 0 {
			v += dim
		}
		return min(max(v, lo), hi)
	}
	lo, hi := 0, dim
	if stride < 0 {
		lo, hi = -1, dim-1
	}
	start, stop := norm(begin, lo, hi), norm(end, lo, hi)
	if beginMask {
		if stride > 0 {
			start = 0
		} else {
			start = dim - 1
		}
	}
	if endMask {
		stop = hi
		if stride < 0 {
			stop = -1
		}
	}
	if stride > 0 && stop > start {
		return (stop - start + stride - 1) / stride
	}
	if stride < 0 && stop < start {
		return (start - stop - stride - 1) / -stride
	}
	return 0
}

// Resize adds a RESIZE_BILINEAR (bilinear) or RESIZE_NEAREST_NEIGHBOR to
// outH x outW; the output shares the input's quantization.
func (g *Graph) Resize(in int, bilinear bool, outH, outW int, alignCorners, halfPixel bool) int {
	sh := g.Shape(in)
	size := g.constInt32([]int32{2}, []int32{int32(outH), int32(outW)})
	o := g.activation([]int32{sh[0], int32(outH), int32(outW), sh[3]}, g.QuantOf(in))
	code := tflite.OpResizeNearestNeighbor
	if bilinear {
		code = tflite.OpResizeBilinear
	}
	return g.op(code, versionInt8, &tflite.ResizeOptions{AlignCorners: alignCorners, HalfPixelCenters: halfPixel}, o, in, size)
}

// Sub adds an element-wise SUB (with broadcasting). A zero out.Scale covers
// the difference of the input ranges.
func (g *Graph) Sub(a, b int, act tflite.Activation, out Quant) int {
	qa, qb := g.QuantOf(a), g.QuantOf(b)
	if out.Scale == 0 {
		out = rangeQuant(qa.lo()-qb.hi(), qa.hi()-qb.lo())
	}
	o := g.activation(broadcastShape(g.Shape(a), g.Shape(b)), out)
	return g.op(tflite.OpSub, versionInt8, &tflite.SubOptions{Activation: act}, o, a, b)
}

// MaxMin adds MAXIMUM (isMax) or MINIMUM with broadcasting; inputs must
// share a quantization, which the output takes (as the converter writes).
func (g *Graph) MaxMin(a, b int, isMax bool) int {
	if g.QuantOf(a) != g.QuantOf(b) {
		panic(fmt.Sprintf("runtimetest: MAXIMUM/MINIMUM inputs quantized %v and %v", g.QuantOf(a), g.QuantOf(b)))
	}
	o := g.activation(broadcastShape(g.Shape(a), g.Shape(b)), g.QuantOf(a))
	code := tflite.OpMinimum
	if isMax {
		code = tflite.OpMaximum
	}
	return g.op(code, versionInt8, nil, o, a, b)
}

// TransposeConvSpec describes a TRANSPOSE_CONV (zero stride means 1).
type TransposeConvSpec struct {
	OutChannels      int
	KernelH, KernelW int
	Stride           int
	Padding          tflite.Padding
	Activation       tflite.Activation
	NoBias           bool
	PerTensor        bool // one weight scale instead of one per output channel
	Out              Quant
}

// TransposeConv adds a TRANSPOSE_CONV upsampling by the stride, with int8
// weights [OC, KH, KW, IC] per channel along axis 0 unless PerTensor.
func (g *Graph) TransposeConv(in int, s TransposeConvSpec) int {
	sh := g.Shape(in)
	st := int(one(s.Stride))
	// The output size whose convolution gives back the input size.
	oh, ow := int(sh[1])*st, int(sh[2])*st
	if s.Padding == tflite.PaddingValid {
		oh, ow = (int(sh[1])-1)*st+s.KernelH, (int(sh[2])-1)*st+s.KernelW
	}
	ic := int(sh[3])
	fanIn := s.KernelH * s.KernelW * ic / (st * st)
	axis := 0
	if s.PerTensor {
		axis = -1
	}
	w, wScales := g.weights([]int32{int32(s.OutChannels), int32(s.KernelH), int32(s.KernelW), int32(ic)}, axis, max(fanIn, 1))
	inQ := g.QuantOf(in)
	out := s.Out
	if out.Scale == 0 {
		out = accQuant(inQ, max(fanIn, 1), s.Activation)
	}
	osh := []int32{sh[0], int32(oh), int32(ow), int32(s.OutChannels)}
	shape := g.constInt32([]int32{4}, osh)
	o := g.activation(osh, out)
	inputs := []int{shape, w, in}
	if !s.NoBias {
		inputs = append(inputs, g.bias(s.OutChannels, inQ.Scale, wScales, 0.5*float64(out.hi()-out.lo())/2))
	}
	return g.op(tflite.OpTransposeConv, versionTransposeConv, &tflite.TransposeConvOptions{Padding: s.Padding,
		StrideW: int32(st), StrideH: int32(st), Activation: s.Activation}, o, inputs...)
}
