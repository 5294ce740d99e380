package runtimetest

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

// Operator versions as TFLite's converter sets them for int8 operands
// (tensorflow/lite/tools/versioning/op_version.cc).
const (
	versionConvInt8      = 3 // int8 input, filter and output
	versionDepthwiseInt8 = 3
	versionFCInt8        = 4
	versionInt8          = 2 // ADD, MUL, MEAN, AVERAGE_POOL_2D, SOFTMAX, LOGISTIC, PAD, TRANSPOSE
	versionHardSwish     = 1
	versionReshape       = 1
	versionQuantize      = 1 // int8 output, per tensor
	versionDequantize    = 2 // int8 input
)

// ConvSpec describes a CONV_2D. Zero strides and dilations mean 1; a zero
// Out.Scale means "choose from the expected output range".
type ConvSpec struct {
	OutChannels          int
	KernelH, KernelW     int
	StrideH, StrideW     int
	DilationH, DilationW int
	Padding              tflite.Padding
	Activation           tflite.Activation
	PerTensor            bool // one weight scale instead of one per output channel
	NoBias               bool
	Out                  Quant
}

func one(v int) int32 {
	if v == 0 {
		return 1
	}
	return int32(v)
}

// Conv2D adds a CONV_2D with int8 weights [OC, KH, KW, IC], per-channel
// along axis 0 unless PerTensor, and an int32 bias.
func (g *Graph) Conv2D(in int, s ConvSpec) int {
	sh := g.Shape(in)
	ic := int(sh[3])
	sH, sW, dH, dW := one(s.StrideH), one(s.StrideW), one(s.DilationH), one(s.DilationW)
	fanIn := s.KernelH * s.KernelW * ic
	axis := 0
	if s.PerTensor {
		axis = -1
	}
	w, wScales := g.weights([]int32{int32(s.OutChannels), int32(s.KernelH), int32(s.KernelW), int32(ic)}, axis, fanIn)
	inQ := g.QuantOf(in)
	out := s.Out
	if out.Scale == 0 {
		out = accQuant(inQ, fanIn, s.Activation)
	}
	oh := tflite.ConvOutputSize(int(sh[1]), s.KernelH, int(sH), int(dH), s.Padding)
	ow := tflite.ConvOutputSize(int(sh[2]), s.KernelW, int(sW), int(dW), s.Padding)
	o := g.activation([]int32{sh[0], int32(oh), int32(ow), int32(s.OutChannels)}, out)
	inputs := []int{in, w}
	if !s.NoBias {
		inputs = append(inputs, g.bias(s.OutChannels, inQ.Scale, wScales, 0.5*float64(out.hi()-out.lo())/2))
	}
	return g.op(tflite.OpConv2D, versionConvInt8, &tflite.Conv2DOptions{Padding: s.Padding, StrideW: sW, StrideH: sH,
		Activation: s.Activation, DilationW: dW, DilationH: dH}, o, inputs...)
}

// DepthwiseSpec describes a DEPTHWISE_CONV_2D (zero stride, dilation and
// depth multiplier mean 1).
type DepthwiseSpec struct {
	KernelH, KernelW int
	Stride           int
	Dilation         int
	DepthMultiplier  int
	Padding          tflite.Padding
	Activation       tflite.Activation
	PerTensor        bool
	Out              Quant
}

// DepthwiseConv2D adds a DEPTHWISE_CONV_2D with int8 weights [1, KH, KW, OC],
// per-channel along axis 3 unless PerTensor.
func (g *Graph) DepthwiseConv2D(in int, s DepthwiseSpec) int {
	sh := g.Shape(in)
	st, dil, dm := one(s.Stride), one(s.Dilation), one(s.DepthMultiplier)
	oc := sh[3] * dm
	fanIn := s.KernelH * s.KernelW
	axis := 3
	if s.PerTensor {
		axis = -1
	}
	w, wScales := g.weights([]int32{1, int32(s.KernelH), int32(s.KernelW), oc}, axis, fanIn)
	inQ := g.QuantOf(in)
	out := s.Out
	if out.Scale == 0 {
		out = accQuant(inQ, fanIn, s.Activation)
	}
	oh := tflite.ConvOutputSize(int(sh[1]), s.KernelH, int(st), int(dil), s.Padding)
	ow := tflite.ConvOutputSize(int(sh[2]), s.KernelW, int(st), int(dil), s.Padding)
	o := g.activation([]int32{sh[0], int32(oh), int32(ow), oc}, out)
	b := g.bias(int(oc), inQ.Scale, wScales, 0.5*float64(out.hi()-out.lo())/2)
	return g.op(tflite.OpDepthwiseConv2D, versionDepthwiseInt8, &tflite.DepthwiseConv2DOptions{Padding: s.Padding,
		StrideW: st, StrideH: st, DepthMultiplier: dm, Activation: s.Activation, DilationW: dil, DilationH: dil}, o, in, w, b)
}

// FullyConnected adds a FULLY_CONNECTED over the input's last dimension,
// with per-tensor int8 weights [units, K] (per channel if perChannel) and a
// bias.
func (g *Graph) FullyConnected(in, units int, act tflite.Activation, out Quant, perChannel bool) int {
	sh := g.Shape(in)
	k := int(sh[len(sh)-1])
	rows := 1
	for _, d := range sh[:len(sh)-1] {
		rows *= int(d)
	}
	axis := -1
	if perChannel {
		axis = 0
	}
	w, wScales := g.weights([]int32{int32(units), int32(k)}, axis, k)
	inQ := g.QuantOf(in)
	if out.Scale == 0 {
		out = accQuant(inQ, k, act)
	}
	o := g.activation([]int32{int32(rows), int32(units)}, out)
	b := g.bias(units, inQ.Scale, wScales, 0.5*float64(out.hi()-out.lo())/2)
	return g.op(tflite.OpFullyConnected, versionFCInt8, &tflite.FullyConnectedOptions{Activation: act}, o, in, w, b)
}

// broadcastShape is the NumPy broadcast of two shapes.
func broadcastShape(a, b []int32) []int32 {
	n := max(len(a), len(b))
	out := make([]int32, n)
	for i := range n {
		da, db := int32(1), int32(1)
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		if da != db && da != 1 && db != 1 {
			panic(fmt.Sprintf("runtimetest: shapes %v and %v do not broadcast", a, b))
		}
		out[i] = max(da, db)
	}
	return out
}

// Add adds an element-wise ADD (with broadcasting). A zero out.Scale covers
// the sum of the input ranges.
func (g *Graph) Add(a, b int, act tflite.Activation, out Quant) int {
	qa, qb := g.QuantOf(a), g.QuantOf(b)
	if out.Scale == 0 {
		out = rangeQuant(qa.lo()+qb.lo(), qa.hi()+qb.hi())
	}
	o := g.activation(broadcastShape(g.Shape(a), g.Shape(b)), out)
	return g.op(tflite.OpAdd, versionInt8, &tflite.AddOptions{Activation: act}, o, a, b)
}

// Mul adds an element-wise MUL (with broadcasting). A zero out.Scale covers
// the product of the input ranges.
func (g *Graph) Mul(a, b int, act tflite.Activation, out Quant) int {
	qa, qb := g.QuantOf(a), g.QuantOf(b)
	if out.Scale == 0 {
		c := []float64{qa.lo() * qb.lo(), qa.lo() * qb.hi(), qa.hi() * qb.lo(), qa.hi() * qb.hi()}
		lo, hi := c[0], c[0]
		for _, v := range c[1:] {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		out = rangeQuant(lo, hi)
	}
	o := g.activation(broadcastShape(g.Shape(a), g.Shape(b)), out)
	return g.op(tflite.OpMul, versionInt8, &tflite.MulOptions{Activation: act}, o, a, b)
}

// Mean adds a MEAN over axes. A zero out.Scale keeps the input's parameters.
func (g *Graph) Mean(in int, axes []int32, keepDims bool, out Quant) int {
	if out.Scale == 0 {
		out = g.QuantOf(in)
	}
	sh := g.Shape(in)
	reduced := map[int32]bool{}
	for _, a := range axes {
		if a < 0 {
			a += int32(len(sh))
		}
		reduced[a] = true
	}
	var osh []int32
	for i, d := range sh {
		switch {
		case !reduced[int32(i)]:
			osh = append(osh, d)
		case keepDims:
			osh = append(osh, 1)
		}
	}
	ax := g.constInt32([]int32{int32(len(axes))}, axes)
	o := g.activation(osh, out)
	return g.op(tflite.OpMean, versionInt8, &tflite.ReducerOptions{KeepDims: keepDims}, o, in, ax)
}

// AveragePool adds an AVERAGE_POOL_2D; the output shares the input's
// quantization, as TFLite requires.
func (g *Graph) AveragePool(in, filter, stride int, pad tflite.Padding) int {
	sh := g.Shape(in)
	oh := tflite.ConvOutputSize(int(sh[1]), filter, stride, 1, pad)
	ow := tflite.ConvOutputSize(int(sh[2]), filter, stride, 1, pad)
	o := g.activation([]int32{sh[0], int32(oh), int32(ow), sh[3]}, g.QuantOf(in))
	return g.op(tflite.OpAveragePool2D, versionInt8, &tflite.Pool2DOptions{Padding: pad, StrideW: int32(stride),
		StrideH: int32(stride), FilterWidth: int32(filter), FilterHeight: int32(filter)}, o, in)
}

// probability is the fixed int8 output quantization of LOGISTIC and SOFTMAX.
var probability = Quant{Scale: 1.0 / 256, ZeroPoint: -128}

// Logistic adds a LOGISTIC (output scale 1/256, zero point -128).
func (g *Graph) Logistic(in int) int {
	o := g.activation(g.Shape(in), probability)
	return g.op(tflite.OpLogistic, versionInt8, nil, o, in)
}

// Softmax adds a SOFTMAX over the last dimension (output 1/256, -128).
func (g *Graph) Softmax(in int, beta float32) int {
	o := g.activation(g.Shape(in), probability)
	return g.op(tflite.OpSoftmax, versionInt8, &tflite.SoftmaxOptions{Beta: beta}, o, in)
}

// HardSwish adds a HARD_SWISH. A zero out.Scale covers [-3/8, max input].
func (g *Graph) HardSwish(in int, out Quant) int {
	if out.Scale == 0 {
		out = rangeQuant(-0.375, g.QuantOf(in).hi())
	}
	o := g.activation(g.Shape(in), out)
	return g.op(tflite.OpHardSwish, versionHardSwish, nil, o, in)
}

// Pad adds a PAD with the given [before, after] per dimension.
func (g *Graph) Pad(in int, pads [][2]int32) int {
	sh := g.Shape(in)
	osh := make([]int32, len(sh))
	flat := make([]int32, 0, 2*len(sh))
	for i, d := range sh {
		osh[i] = d + pads[i][0] + pads[i][1]
		flat = append(flat, pads[i][0], pads[i][1])
	}
	p := g.constInt32([]int32{int32(len(sh)), 2}, flat)
	o := g.activation(osh, g.QuantOf(in))
	return g.op(tflite.OpPad, versionInt8, nil, o, in, p)
}

// Reshape adds a RESHAPE to shape (given both as option and as input 1, as
// newer converters write it).
func (g *Graph) Reshape(in int, shape []int32) int {
	s := g.constInt32([]int32{int32(len(shape))}, shape)
	o := g.activation(shape, g.QuantOf(in))
	return g.op(tflite.OpReshape, versionReshape, &tflite.ReshapeOptions{NewShape: append([]int32(nil), shape...)}, o, in, s)
}

// Transpose adds a TRANSPOSE by perm.
func (g *Graph) Transpose(in int, perm []int32) int {
	sh := g.Shape(in)
	osh := make([]int32, len(perm))
	for i, p := range perm {
		osh[i] = sh[p]
	}
	p := g.constInt32([]int32{int32(len(perm))}, perm)
	o := g.activation(osh, g.QuantOf(in))
	return g.op(tflite.OpTranspose, versionInt8, &tflite.TransposeOptions{}, o, in, p)
}

// Quantize adds a QUANTIZE from float32 or int8 to int8 with out's parameters.
func (g *Graph) Quantize(in int, out Quant) int {
	o := g.activation(g.Shape(in), out)
	return g.op(tflite.OpQuantize, versionQuantize, nil, o, in)
}

// Dequantize adds a DEQUANTIZE from int8 to float32.
func (g *Graph) Dequantize(in int) int {
	o := g.tensor(tflite.Tensor{Type: tflite.Float32, Shape: append([]int32(nil), g.Shape(in)...)})
	return g.op(tflite.OpDequantize, versionDequantize, nil, o, in)
}

// SqueezeExcite adds the squeeze-and-excitation path of MobileNetV3/EfficientNet
// blocks on x [N,H,W,C]: MEAN over H,W (keep_dims) -> 1x1 CONV_2D to
// reduced channels with RELU -> 1x1 CONV_2D back to C -> LOGISTIC -> MUL
// with x. useFC uses FULLY_CONNECTED layers on a reshaped vector instead of
// 1x1 convolutions.
func (g *Graph) SqueezeExcite(x, reduced int, useFC bool) int {
	sh := g.Shape(x)
	c := int(sh[3])
	m := g.Mean(x, []int32{1, 2}, true, Quant{})
	var gate int
	if useFC {
		v := g.Reshape(m, []int32{sh[0], int32(c)})
		h := g.FullyConnected(v, reduced, tflite.ActRelu, Quant{}, false)
		e := g.FullyConnected(h, c, tflite.ActNone, Quant{}, false)
		gate = g.Reshape(g.Logistic(e), []int32{sh[0], 1, 1, int32(c)})
	} else {
		h := g.Conv2D(m, ConvSpec{OutChannels: reduced, KernelH: 1, KernelW: 1, Activation: tflite.ActRelu})
		e := g.Conv2D(h, ConvSpec{OutChannels: c, KernelH: 1, KernelW: 1})
		gate = g.Logistic(e)
	}
	return g.Mul(x, gate, tflite.ActNone, Quant{})
}
