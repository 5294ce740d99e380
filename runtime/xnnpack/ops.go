//go:build cgo

package xnnpack

/*
#include <xnnpack.h>
*/
import "C"

import (
	"fmt"

	"edgenas/tflite"
)

// Translation of single TFLite operators onto XNNPACK subgraph nodes, after
// TensorFlow Lite's XNNPACK delegate (xnnpack_delegate.cc): the same value
// types (qint8 activations, qcint8 per-channel filters with channel dimension
// 0 for convolution and 3 for depthwise, qint32/qcint32 biases), TensorFlow
// SAME padding through XNN_FLAG_TENSORFLOW_SAME_PADDING, fused activations as
// output clamps, MEAN over H and W as global average pooling.

// defineOp adds model operator i to the builder's subgraph.
func (b *builder) defineOp(i int) error {
	m := b.m
	op := &m.Operators[i]
	if len(op.Outputs) != 1 {
		return fmt.Errorf("%d outputs, want 1", len(op.Outputs))
	}
	if moreOps[op.Op] {
		return b.defineMoreOp(op)
	}
	if !translated[op.Op] {
		return fmt.Errorf("no XNNPACK translation for %v (none in this XNNPACK version)", op.Op)
	}
	if err := needInputs(op); err != nil {
		return err
	}
	if err := checkOutputShape(m, op); err != nil {
		return err
	}
	out := op.Outputs[0]
	switch op.Op {
	case tflite.OpConv2D:
		opts, ok := op.Options.(*tflite.Conv2DOptions)
		if !ok {
			return fmt.Errorf("missing Conv2DOptions")
		}
		return b.conv(op, opts)
	case tflite.OpDepthwiseConv2D:
		opts, ok := op.Options.(*tflite.DepthwiseConv2DOptions)
		if !ok {
			return fmt.Errorf("missing DepthwiseConv2DOptions")
		}
		return b.depthwise(op, opts)
	case tflite.OpFullyConnected:
		opts, ok := op.Options.(*tflite.FullyConnectedOptions)
		if !ok {
			return fmt.Errorf("missing FullyConnectedOptions")
		}
		return b.fullyConnected(op, opts)
	case tflite.OpAdd, tflite.OpMul:
		act := tflite.ActNone
		switch o := op.Options.(type) {
		case *tflite.AddOptions:
			act = o.Activation
		case *tflite.MulOptions:
			act = o.Activation
		}
		lo, hi, err := b.outputRange(act, out)
		if err != nil {
			return err
		}
		ids, err := b.values(op.Inputs[0], op.Inputs[1], out)
		if err != nil {
			return err
		}
		if op.Op == tflite.OpAdd {
			return check("xnn_define_add2", C.xnn_define_add2(b.sg, lo, hi, ids[0], ids[1], ids[2], 0))
		}
		return check("xnn_define_multiply2", C.xnn_define_multiply2(b.sg, lo, hi, ids[0], ids[1], ids[2], 0))
	case tflite.OpMaxPool2D, tflite.OpAveragePool2D:
		opts, ok := op.Options.(*tflite.Pool2DOptions)
		if !ok {
			return fmt.Errorf("missing Pool2DOptions")
		}
		return b.pool(op, opts)
	case tflite.OpMean:
		if err := meanOverHW(m, op); err != nil {
			return err
		}
		if err := checkMeanRounding(m, op); err != nil {
			return err
		}
		lo, hi, err := b.outputRange(tflite.ActNone, out)
		if err != nil {
			return err
		}
		ids, err := b.values(op.Inputs[0], out)
		if err != nil {
			return err
		}
		return check("xnn_define_global_average_pooling_2d", C.xnn_define_global_average_pooling_2d(b.sg, lo, hi, ids[0], ids[1], 0))
	case tflite.OpReshape:
		// The new shape is the output tensor's; a shape computed at run
		// time would be an input XNNPACK's static reshape never reads.
		if len(op.Inputs) > 1 && op.Inputs[1] >= 0 && !m.Tensors[op.Inputs[1]].IsConst() {
			return fmt.Errorf("shape input %q is not constant", m.Tensors[op.Inputs[1]].Name)
		}
		if err := sameQuant(&m.Tensors[op.Inputs[0]], &m.Tensors[out]); err != nil {
			return err
		}
		shape := m.Tensors[out].Shape
		if len(shape) > C.XNN_MAX_TENSOR_DIMS {
			return fmt.Errorf("output rank %d exceeds XNNPACK's %d", len(shape), C.XNN_MAX_TENSOR_DIMS)
		}
		ids, err := b.values(op.Inputs[0], out)
		if err != nil {
			return err
		}
		dims := sizes(shape)
		return check("xnn_define_static_reshape", C.xnn_define_static_reshape(b.sg, C.size_t(len(dims)), sizesPtr(dims), ids[0], ids[1], 0))
	case tflite.OpPad:
		return b.pad(op)
	case tflite.OpLogistic, tflite.OpHardSwish, tflite.OpSoftmax:
		ids, err := b.values(op.Inputs[0], out)
		if err != nil {
			return err
		}
		switch op.Op {
		case tflite.OpLogistic:
			return check("xnn_define_sigmoid", C.xnn_define_sigmoid(b.sg, ids[0], ids[1], 0))
		case tflite.OpHardSwish:
			return check("xnn_define_hardswish", C.xnn_define_hardswish(b.sg, ids[0], ids[1], 0))
		}
		if o, ok := op.Options.(*tflite.SoftmaxOptions); ok && o.Beta != 1 {
			return fmt.Errorf("softmax beta %g, XNNPACK only computes beta 1", o.Beta)
		}
		return check("xnn_define_softmax", C.xnn_define_softmax(b.sg, ids[0], ids[1], 0))
	case tflite.OpQuantize, tflite.OpDequantize:
		ids, err := b.values(op.Inputs[0], out)
		if err != nil {
			return err
		}
		return check("xnn_define_convert", C.xnn_define_convert(b.sg, ids[0], ids[1], 0))
	}
	return fmt.Errorf("no XNNPACK translation for %v", op.Op)
}

// translated are the operators defineOp maps onto XNNPACK nodes. Others
// (TRANSPOSE: this XNNPACK version has no transpose node) go to ref.
var translated = map[tflite.Opcode]bool{
	tflite.OpConv2D: true, tflite.OpDepthwiseConv2D: true, tflite.OpFullyConnected: true,
	tflite.OpAdd: true, tflite.OpMul: true, tflite.OpMaxPool2D: true, tflite.OpAveragePool2D: true,
	tflite.OpMean: true, tflite.OpReshape: true, tflite.OpPad: true, tflite.OpLogistic: true,
	tflite.OpHardSwish: true, tflite.OpSoftmax: true, tflite.OpQuantize: true, tflite.OpDequantize: true,
}

// needInputs checks the operator has the inputs its translation reads.
func needInputs(op *tflite.Operator) error {
	want := 1
	switch op.Op {
	case tflite.OpConv2D, tflite.OpDepthwiseConv2D, tflite.OpFullyConnected:
		want = 2 // bias is optional (-1 or absent)
	case tflite.OpAdd, tflite.OpMul, tflite.OpPad, tflite.OpMean:
		want = 2
	}
	if len(op.Inputs) < want {
		return fmt.Errorf("%d inputs, want at least %d", len(op.Inputs), want)
	}
	for k := 0; k < want; k++ {
		if op.Inputs[k] < 0 {
			return fmt.Errorf("input %d is omitted", k)
		}
	}
	return nil
}

// outputRange converts a fused activation into XNNPACK's float clamp for
// the int8 output tensor out.
func (b *builder) outputRange(act tflite.Activation, out int) (C.float, C.float, error) {
	s, zp, err := perTensorInt8(&b.m.Tensors[out])
	if err != nil {
		return 0, 0, err
	}
	lo, hi, err := activationRange(act, s, zp)
	return C.float(lo), C.float(hi), err
}

// bias defines the optional bias operand (input 2) of an operator with n
// output channels, or returns XNN_INVALID_VALUE_ID when it has none.
func (b *builder) bias(op *tflite.Operator, n int32) (C.uint32_t, error) {
	if len(op.Inputs) < 3 || op.Inputs[2] < 0 {
		return invalidID, nil
	}
	t := &b.m.Tensors[op.Inputs[2]]
	if !t.IsConst() {
		return 0, fmt.Errorf("bias %q is not constant", t.Name)
	}
	if t.Type != tflite.Int32 {
		return 0, fmt.Errorf("bias %q is %v, want int32", t.Name, t.Type)
	}
	// XNNPACK reads one bias per output channel without checking the shape.
	if len(t.Shape) != 1 || t.Shape[0] != n {
		return 0, fmt.Errorf("bias %q has shape %v, want [%d]", t.Name, t.Shape, n)
	}
	return b.value(op.Inputs[2], 0)
}

// filter defines a constant int8 filter, per-channel along channelDim when
// it has several scales.
func (b *builder) filter(t, channelDim, rank int) (C.uint32_t, error) {
	f := &b.m.Tensors[t]
	if !f.IsConst() {
		return 0, fmt.Errorf("filter %q is not constant", f.Name)
	}
	if f.Type != tflite.Int8 || len(f.Shape) != rank {
		return 0, fmt.Errorf("filter %q is %v%v, want int8 of rank %d", f.Name, f.Type, f.Shape, rank)
	}
	if f.Quant.PerChannel() && int(f.Quant.Axis) != channelDim {
		return 0, fmt.Errorf("filter %q is quantized along axis %d, want %d", f.Name, f.Quant.Axis, channelDim)
	}
	return b.value(t, channelDim)
}

// window returns XNNPACK's padding flags and the strides and dilations of a
// convolution or pooling, validated.
func window(p tflite.Padding, sh, sw, dh, dw int32) (flags C.uint32_t, err error) {
	switch p {
	case tflite.PaddingSame:
		flags = C.XNN_FLAG_TENSORFLOW_SAME_PADDING
	case tflite.PaddingValid:
	default:
		return 0, fmt.Errorf("padding %v not supported", p)
	}
	if sh < 1 || sw < 1 || dh < 1 || dw < 1 {
		return 0, fmt.Errorf("strides %dx%d and dilations %dx%d must be positive", sh, sw, dh, dw)
	}
	return flags, nil
}

func (b *builder) conv(op *tflite.Operator, o *tflite.Conv2DOptions) error {
	in := &b.m.Tensors[op.Inputs[0]]
	f := &b.m.Tensors[op.Inputs[1]]
	dh, dw := dilation(o.DilationH), dilation(o.DilationW)
	flags, err := window(o.Padding, o.StrideH, o.StrideW, dh, dw)
	if err != nil {
		return err
	}
	if len(in.Shape) != 4 || len(f.Shape) != 4 {
		return fmt.Errorf("input %v and filter %v must be 4-D", in.Shape, f.Shape)
	}
	cout, kh, kw, gin := f.Shape[0], f.Shape[1], f.Shape[2], f.Shape[3]
	if gin <= 0 || in.Shape[3]%gin != 0 {
		return fmt.Errorf("input channels %d not a multiple of filter channels %d", in.Shape[3], gin)
	}
	groups := in.Shape[3] / gin
	if cout%groups != 0 {
		return fmt.Errorf("output channels %d not divisible into %d groups", cout, groups)
	}
	lo, hi, err := b.outputRange(o.Activation, op.Outputs[0])
	if err != nil {
		return err
	}
	x, err := b.value(op.Inputs[0], 0)
	if err != nil {
		return err
	}
	w, err := b.filter(op.Inputs[1], 0, 4)
	if err != nil {
		return err
	}
	bias, err := b.bias(op, cout)
	if err != nil {
		return err
	}
	y, err := b.value(op.Outputs[0], 0)
	if err != nil {
		return err
	}
	return check("xnn_define_convolution_2d", C.xnn_define_convolution_2d(b.sg, 0, 0, 0, 0,
		C.uint32_t(kh), C.uint32_t(kw), C.uint32_t(o.StrideH), C.uint32_t(o.StrideW), C.uint32_t(dh), C.uint32_t(dw),
		C.uint32_t(groups), C.size_t(gin), C.size_t(cout/groups), lo, hi, x, w, bias, y, flags))
}

func (b *builder) depthwise(op *tflite.Operator, o *tflite.DepthwiseConv2DOptions) error {
	in := &b.m.Tensors[op.Inputs[0]]
	f := &b.m.Tensors[op.Inputs[1]]
	dh, dw := dilation(o.DilationH), dilation(o.DilationW)
	flags, err := window(o.Padding, o.StrideH, o.StrideW, dh, dw)
	if err != nil {
		return err
	}
	if len(in.Shape) != 4 || len(f.Shape) != 4 || f.Shape[0] != 1 {
		return fmt.Errorf("input %v and filter %v must be 4-D, filter [1,KH,KW,C*M]", in.Shape, f.Shape)
	}
	cin := in.Shape[3]
	// The multiplier follows from the shapes, as in the delegate: old
	// converters do not always write the option consistently.
	if cin <= 0 || f.Shape[3]%cin != 0 {
		return fmt.Errorf("filter channels %d not a multiple of input channels %d", f.Shape[3], cin)
	}
	mult := f.Shape[3] / cin
	lo, hi, err := b.outputRange(o.Activation, op.Outputs[0])
	if err != nil {
		return err
	}
	x, err := b.value(op.Inputs[0], 0)
	if err != nil {
		return err
	}
	w, err := b.filter(op.Inputs[1], 3, 4)
	if err != nil {
		return err
	}
	bias, err := b.bias(op, f.Shape[3])
	if err != nil {
		return err
	}
	y, err := b.value(op.Outputs[0], 0)
	if err != nil {
		return err
	}
	return check("xnn_define_depthwise_convolution_2d", C.xnn_define_depthwise_convolution_2d(b.sg, 0, 0, 0, 0,
		C.uint32_t(f.Shape[1]), C.uint32_t(f.Shape[2]), C.uint32_t(o.StrideH), C.uint32_t(o.StrideW), C.uint32_t(dh), C.uint32_t(dw),
		C.uint32_t(mult), C.size_t(cin), lo, hi, x, w, bias, y, flags))
}

func (b *builder) fullyConnected(op *tflite.Operator, o *tflite.FullyConnectedOptions) error {
	in, out := &b.m.Tensors[op.Inputs[0]], &b.m.Tensors[op.Outputs[0]]
	f := &b.m.Tensors[op.Inputs[1]]
	if len(f.Shape) != 2 || f.Shape[1] <= 0 {
		return fmt.Errorf("filter %v must be [out, in]", f.Shape)
	}
	if in.NumElements()%int(f.Shape[1]) != 0 {
		return fmt.Errorf("input %v does not flatten into rows of %d", in.Shape, f.Shape[1])
	}
	// As the delegate: unless the output keeps the input's rank, TFLite
	// flattens the input to [elements/in, in] first.
	var flags C.uint32_t
	if !o.KeepNumDims {
		flags = C.XNN_FLAG_TENSORFLOW_RESHAPE_2D
	} else if len(out.Shape) != len(in.Shape) {
		return fmt.Errorf("keep_num_dims with input %v and output %v", in.Shape, out.Shape)
	}
	lo, hi, err := b.outputRange(o.Activation, op.Outputs[0])
	if err != nil {
		return err
	}
	x, err := b.value(op.Inputs[0], 0)
	if err != nil {
		return err
	}
	w, err := b.filter(op.Inputs[1], 0, 2)
	if err != nil {
		return err
	}
	bias, err := b.bias(op, f.Shape[0])
	if err != nil {
		return err
	}
	y, err := b.value(op.Outputs[0], 0)
	if err != nil {
		return err
	}
	return check("xnn_define_fully_connected", C.xnn_define_fully_connected(b.sg, lo, hi, x, w, bias, y, flags))
}

func (b *builder) pool(op *tflite.Operator, o *tflite.Pool2DOptions) error {
	flags, err := window(o.Padding, o.StrideH, o.StrideW, 1, 1)
	if err != nil {
		return err
	}
	if o.FilterHeight < 1 || o.FilterWidth < 1 {
		return fmt.Errorf("pool filter %dx%d must be positive", o.FilterHeight, o.FilterWidth)
	}
	lo, hi, err := b.outputRange(o.Activation, op.Outputs[0])
	if err != nil {
		return err
	}
	ids, err := b.values(op.Inputs[0], op.Outputs[0])
	if err != nil {
		return err
	}
	fh, fw, sh, sw := C.uint32_t(o.FilterHeight), C.uint32_t(o.FilterWidth), C.uint32_t(o.StrideH), C.uint32_t(o.StrideW)
	if op.Op == tflite.OpMaxPool2D {
		if err := sameQuant(&b.m.Tensors[op.Inputs[0]], &b.m.Tensors[op.Outputs[0]]); err != nil {
			return err
		}
		return check("xnn_define_max_pooling_2d", C.xnn_define_max_pooling_2d(b.sg, 0, 0, 0, 0, fh, fw, sh, sw, 1, 1, lo, hi, ids[0], ids[1], flags))
	}
	return check("xnn_define_average_pooling_2d", C.xnn_define_average_pooling_2d(b.sg, 0, 0, 0, 0, fh, fw, sh, sw, lo, hi, ids[0], ids[1], flags))
}

func (b *builder) pad(op *tflite.Operator) error {
	m := b.m
	in, out := &m.Tensors[op.Inputs[0]], &m.Tensors[op.Outputs[0]]
	if err := sameQuant(in, out); err != nil {
		return err
	}
	p, err := constInts(m, op.Inputs[1])
	if err != nil {
		return fmt.Errorf("paddings: %w", err)
	}
	rank := len(in.Shape)
	if len(p) != 2*rank || rank > C.XNN_MAX_TENSOR_DIMS {
		return fmt.Errorf("%d paddings for rank %d input", len(p), rank)
	}
	pre, post := make([]C.size_t, rank), make([]C.size_t, rank)
	for d := 0; d < rank; d++ {
		if p[2*d] < 0 || p[2*d+1] < 0 {
			return fmt.Errorf("negative padding %v", p)
		}
		pre[d], post[d] = C.size_t(p[2*d]), C.size_t(p[2*d+1])
	}
	ids, err := b.values(op.Inputs[0], op.Outputs[0])
	if err != nil {
		return err
	}
	// TFLite pads int8 with the zero point, the quantized value of 0.0,
	// which is what XNNPACK stores for a padding value of 0.
	return check("xnn_define_static_constant_pad", C.xnn_define_static_constant_pad(b.sg, sizesPtr(pre), sizesPtr(post), 0, ids[0], ids[1], 0))
}

// sizesPtr is the C pointer to dims, or nil for a scalar. The dims are Go
// memory, which cgo allows for the duration of the call: XNNPACK copies
// shapes and paddings and keeps no pointer to them.
func sizesPtr(dims []C.size_t) *C.size_t {
	if len(dims) == 0 {
		return nil
	}
	return &dims[0]
}
