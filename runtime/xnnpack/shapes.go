package xnnpack

import (
	"fmt"
	"slices"

	"edgenas/tflite"
)

// checkOutputShape verifies that operator op's declared output shape is the
// one its inputs and parameters imply. XNNPACK (this 2022 version) sizes its
// writes from the inputs and does not check every output shape it is given,
// so a model declaring a smaller output would make it write past the end of
// the buffer: the delegate checks shapes itself for the same reason.
func checkOutputShape(m *tflite.Model, op *tflite.Operator) error {
	want, err := expectedShape(m, op)
	if err != nil {
		return err
	}
	got := m.Tensors[op.Outputs[0]].Shape
	if want != nil && !slices.Equal(got, want) {
		return fmt.Errorf("output shape %v, inputs imply %v", got, want)
	}
	return nil
}

// expectedShape computes the output shape of op, or returns nil for
// operators checked by element count only (RESHAPE).
func expectedShape(m *tflite.Model, op *tflite.Operator) ([]int32, error) {
	in := m.Tensors[op.Inputs[0]].Shape
	out := m.Tensors[op.Outputs[0]]
	for _, d := range in {
		if d <= 0 {
			return nil, fmt.Errorf("input shape %v has a non-positive dimension", in)
		}
	}
	switch op.Op {
	case tflite.OpConv2D, tflite.OpDepthwiseConv2D:
		f := m.Tensors[op.Inputs[1]].Shape
		if len(in) != 4 || len(f) != 4 {
			return nil, fmt.Errorf("input %v and filter %v must be 4-D", in, f)
		}
		var pad tflite.Padding
		var sh, sw, dh, dw int32
		cout := f[0]
		if o, ok := op.Options.(*tflite.Conv2DOptions); ok {
			pad, sh, sw, dh, dw = o.Padding, o.StrideH, o.StrideW, o.DilationH, o.DilationW
		} else if o, ok := op.Options.(*tflite.DepthwiseConv2DOptions); ok {
			pad, sh, sw, dh, dw = o.Padding, o.StrideH, o.StrideW, o.DilationH, o.DilationW
			cout = f[3]
		} else {
			return nil, fmt.Errorf("missing convolution options")
		}
		oh, err := windowOut(in[1], f[1], sh, dilation(dh), pad)
		if err != nil {
			return nil, err
		}
		ow, err := windowOut(in[2], f[2], sw, dilation(dw), pad)
		if err != nil {
			return nil, err
		}
		return []int32{in[0], oh, ow, cout}, nil
	case tflite.OpMaxPool2D, tflite.OpAveragePool2D:
		o, ok := op.Options.(*tflite.Pool2DOptions)
		if !ok || len(in) != 4 {
			return nil, fmt.Errorf("pooling needs options and a 4-D input, got %v", in)
		}
		oh, err := windowOut(in[1], o.FilterHeight, o.StrideH, 1, o.Padding)
		if err != nil {
			return nil, err
		}
		ow, err := windowOut(in[2], o.FilterWidth, o.StrideW, 1, o.Padding)
		if err != nil {
			return nil, err
		}
		return []int32{in[0], oh, ow, in[3]}, nil
	case tflite.OpFullyConnected:
		f := m.Tensors[op.Inputs[1]].Shape
		if len(f) != 2 || f[1] <= 0 {
			return nil, fmt.Errorf("filter %v must be [out, in]", f)
		}
		n := int32(m.Tensors[op.Inputs[0]].NumElements())
		if n%f[1] != 0 {
			return nil, fmt.Errorf("input %v does not flatten into rows of %d", in, f[1])
		}
		if o, ok := op.Options.(*tflite.FullyConnectedOptions); ok && o.KeepNumDims {
			if in[len(in)-1] != f[1] {
				return nil, fmt.Errorf("keep_num_dims: input %v does not end in %d", in, f[1])
			}
			return append(slices.Clone(in[:len(in)-1]), f[0]), nil
		}
		return []int32{n / f[1], f[0]}, nil
	case tflite.OpAdd, tflite.OpMul:
		return broadcastShape(in, m.Tensors[op.Inputs[1]].Shape)
	case tflite.OpMean:
		if len(in) != 4 {
			return nil, fmt.Errorf("MEAN input %v must be 4-D", in)
		}
		if o, ok := op.Options.(*tflite.ReducerOptions); ok && o.KeepDims {
			return []int32{in[0], 1, 1, in[3]}, nil
		}
		return []int32{in[0], in[3]}, nil
	case tflite.OpPad:
		p, err := constInts(m, op.Inputs[1])
		if err != nil {
			return nil, fmt.Errorf("paddings: %w", err)
		}
		if len(p) != 2*len(in) {
			return nil, fmt.Errorf("%d paddings for rank %d input", len(p), len(in))
		}
		s := make([]int32, len(in))
		for d := range in {
			if p[2*d] < 0 || p[2*d+1] < 0 {
				return nil, fmt.Errorf("negative padding %v", p)
			}
			s[d] = in[d] + int32(p[2*d]) + int32(p[2*d+1])
		}
		return s, nil
	case tflite.OpReshape:
		if n := m.Tensors[op.Inputs[0]].NumElements(); n != out.NumElements() {
			return nil, fmt.Errorf("reshape of %d elements into %v", n, out.Shape)
		}
		return nil, nil
	}
	// Elementwise operators (LOGISTIC, QUANTIZE, ...) keep the shape.
	return slices.Clone(in), nil
}

// dilation treats the schema default 0 (absent) as 1.
func dilation(d int32) int32 {
	if d == 0 {
		return 1
	}
	return d
}

// windowOut is TensorFlow's output size of a sliding window.
func windowOut(in, k, stride, dil int32, pad tflite.Padding) (int32, error) {
	if k < 1 || stride < 1 || dil < 1 {
		return 0, fmt.Errorf("window %d, stride %d, dilation %d must be positive", k, stride, dil)
	}
	var o int32
	switch pad {
	case tflite.PaddingSame:
		o = (in + stride - 1) / stride
	case tflite.PaddingValid:
		o = (in-(k-1)*dil-1)/stride + 1
	default:
		return 0, fmt.Errorf("padding %v not supported", pad)
	}
	if o < 1 || (pad == tflite.PaddingValid && in < (k-1)*dil+1) {
		return 0, fmt.Errorf("window %d (dilation %d) does not fit input %d", k, dil, in)
	}
	return o, nil
}

// broadcastShape is the numpy broadcast of two shapes.
func broadcastShape(a, b []int32) ([]int32, error) {
	n := max(len(a), len(b))
	out := make([]int32, n)
	for i := 1; i <= n; i++ {
		da, db := int32(1), int32(1)
		if i <= len(a) {
			da = a[len(a)-i]
		}
		if i <= len(b) {
			db = b[len(b)-i]
		}
		switch {
		case da == db || db == 1:
			out[n-i] = da
		case da == 1:
			out[n-i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}
