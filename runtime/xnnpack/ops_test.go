//go:build cgo

package xnnpack

import (
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/tflite"
)

// TestDefineOpRejects feeds the translation malformed operators: each must
// be refused with an error saying what is wrong (never a panic, never an
// XNNPACK node that would read or write out of bounds), and Load must
// refuse the model when the reference kernels cannot take the operator.
func TestDefineOpRejects(t *testing.T) {
	conv := func() *tflite.Model { return probeConv(tflite.ActRelu6, 4, 4, 0, tflite.PaddingSame) }
	dw := func() *tflite.Model { return probeDW(3, 1, 2, 1) }
	fc := func() *tflite.Model {
		return probeFC([]int32{1, 16}, []int32{1, 6}, -1, false, true)
	}
	in := func(m *tflite.Model, k int) *tflite.Tensor { return &m.Tensors[m.Operators[0].Inputs[k]] }
	out := func(m *tflite.Model) *tflite.Tensor { return &m.Tensors[m.Operators[0].Outputs[0]] }
	cases := []struct {
		name  string
		model func() *tflite.Model
		edit  func(m *tflite.Model)
		error string
	}{
		{"conv without options", conv, func(m *tflite.Model) { m.Operators[0].Options = nil }, "missing convolution options"},
		{"conv with one input", conv, func(m *tflite.Model) { m.Operators[0].Inputs = m.Operators[0].Inputs[:1] }, "want at least 2"},
		{"conv bias too short", conv, func(m *tflite.Model) {
			b := in(m, 2)
			b.Shape, b.Data = []int32{4}, b.Data[:16]
			b.Quant.Scale, b.Quant.ZeroPoint = b.Quant.Scale[:4], b.Quant.ZeroPoint[:4]
		}, "want [8]"},
		{"conv filter not constant", conv, func(m *tflite.Model) { in(m, 1).Data = nil }, "not constant"},
		{"conv filter quantized along axis 3", conv, func(m *tflite.Model) { in(m, 1).Quant.Axis = 3 }, "axis 3, want 0"},
		{"conv filter data truncated", conv, func(m *tflite.Model) { in(m, 1).Data = in(m, 1).Data[:10] }, "data bytes"},
		{"conv output wrong size", conv, func(m *tflite.Model) { out(m).Shape = []int32{1, 8, 8, 8} }, "inputs imply [1 4 4 8]"},
		{"conv input channels mismatch", conv, func(m *tflite.Model) { in(m, 0).Shape = []int32{1, 8, 8, 6} }, "not a multiple"},
		{"conv zero stride", conv, func(m *tflite.Model) { m.Operators[0].Options.(*tflite.Conv2DOptions).StrideH = 0 }, "positive"},
		{"output zero point outside int8", conv, func(m *tflite.Model) { out(m).Quant.ZeroPoint[0] = 200 }, "outside int8"},
		{"output scale zero", conv, func(m *tflite.Model) { out(m).Quant.Scale[0] = 0 }, "not a positive normal"},
		{"output not quantized", conv, func(m *tflite.Model) { out(m).Quant = nil }, "per-tensor quantization"},
		{"output uint8", conv, func(m *tflite.Model) { out(m).Type = tflite.Uint8 }, "want int8"},
		{"depthwise filter channels", dw, func(m *tflite.Model) { in(m, 0).Shape = []int32{1, 9, 9, 3} }, "not a multiple"},
		{"depthwise per-channel zero point", dw, func(m *tflite.Model) { in(m, 1).Quant.ZeroPoint[1] = 4 }, "zero point 4"},
		{"fc 3-D filter", fc, func(m *tflite.Model) { in(m, 1).Shape = []int32{6, 4, 4} }, "must be [out, in]"},
		{"fc rows do not divide", fc, func(m *tflite.Model) { in(m, 0).Shape = []int32{1, 15} }, "does not flatten"},
		{"mean over channels", func() *tflite.Model { return probeMean(true, 4, 0.05, 3) }, func(*tflite.Model) {}, "only averages over H and W"},
		{"reshape with a computed shape", dynReshape, func(*tflite.Model) {}, "shape input"},
		{"pad negative", padModelFixed, func(m *tflite.Model) {
			d := in(m, 1).Data
			d[12], d[13], d[14], d[15] = 0xff, 0xff, 0xff, 0xff
		}, "negative padding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			c.edit(m)
			err := probe(m, 0)
			if err == nil || !strings.Contains(err.Error(), c.error) {
				t.Fatalf("probe error %v, want one containing %q", err, c.error)
			}
			if _, rerr := newRefKernel(m, 0); rerr == nil {
				return // the reference kernels take it: Load would run it there
			}
			if _, err := (Backend{}).Load(m, runtime.Options{}); err == nil || !strings.Contains(err.Error(), "operator 0") {
				t.Errorf("Load error %v, want one naming operator 0", err)
			}
		})
	}
}

// padModelFixed is a PAD of [1,5,5,8] by one row below and one column on
// each side, with int32 paddings, quantization fixed by hand.
func padModelFixed() *tflite.Model {
	p := newProbe()
	x := p.q8(0.04, -3, 1, 5, 5, 8)
	pads := p.b.ints([]int32{4, 2}, 0, 0, 0, 1, 1, 1, 0, 0)
	return p.one(tflite.OpPad, nil, p.q8(0.04, -3, 1, 6, 7, 8), x, pads)
}

// dynReshape is a RESHAPE whose shape operand is a graph input, not a constant.
func dynReshape() *tflite.Model {
	p := newProbe()
	x := p.q8(0.04, -3, 1, 4, 4, 8)
	shape := p.b.tensor(tflite.Tensor{Name: "shape", Type: tflite.Int32, Shape: []int32{2}})
	return p.one(tflite.OpReshape, &tflite.ReshapeOptions{}, p.q8(0.04, -3, 1, 128), x, shape)
}
