package tflite

import (
	"os"
	"testing"

	"edgenas/internal/refdata"
)

// graph is a tiny builder for synthetic test models.
type graph struct{ m Model }

func (g *graph) tensor(name string, typ TensorType, shape []int32, q *Quantization, data []byte) int {
	g.m.Tensors = append(g.m.Tensors, Tensor{Name: name, Type: typ, Shape: shape, Quant: q, Data: data})
	return len(g.m.Tensors) - 1
}

// act adds an int8 activation tensor with per-tensor quantization.
func (g *graph) act(name string, shape ...int32) int {
	return g.tensor(name, Int8, shape, &Quantization{Scale: []float32{0.05}, ZeroPoint: []int64{-3}}, nil)
}

// weights adds a constant tensor filled with a deterministic pattern.
func (g *graph) weights(name string, typ TensorType, q *Quantization, shape ...int32) int {
	t := Tensor{Type: typ, Shape: shape}
	data := make([]byte, t.Bytes())
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	return g.tensor(name, typ, shape, q, data)
}

func (g *graph) op(op Opcode, version int32, opts any, in []int, out int) {
	g.m.Operators = append(g.m.Operators, Operator{Op: op, Version: version, Inputs: in, Outputs: []int{out}, Options: opts})
}

func perChannel(n int, axis int32) *Quantization {
	q := &Quantization{Axis: axis}
	for i := 0; i < n; i++ {
		q.Scale = append(q.Scale, 0.001*float32(i+1))
		q.ZeroPoint = append(q.ZeroPoint, 0)
	}
	return q
}

// testModel builds a valid int8 model that uses every supported operator.
func testModel() *Model {
	g := &graph{m: Model{Version: SchemaVersion, Description: "edgenas test", Name: "main"}}
	in := g.tensor("input", Float32, []int32{1, 3, 8, 8}, nil, nil)
	g.m.Inputs = []int{in}
	perm := g.tensor("perm", Int32, []int32{4}, nil, []byte{0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0})
	nhwc := g.tensor("nhwc", Float32, []int32{1, 8, 8, 3}, nil, nil)
	g.op(OpTranspose, 1, &TransposeOptions{}, []int{in, perm}, nhwc)
	q := g.act("q", 1, 8, 8, 3)
	g.op(OpQuantize, 1, nil, []int{nhwc}, q)
	pads := g.tensor("pads", Int32, []int32{4, 2}, nil, make([]byte, 32))
	padded := g.act("padded", 1, 8, 8, 3)
	g.op(OpPad, 1, nil, []int{q, pads}, padded)
	cw := g.weights("conv_w", Int8, perChannel(8, 0), 8, 3, 3, 3)
	cb := g.weights("conv_b", Int32, perChannel(8, 0), 8)
	c := g.act("conv", 1, 4, 4, 8)
	g.op(OpConv2D, 3, &Conv2DOptions{Padding: PaddingSame, StrideW: 2, StrideH: 2, Activation: ActRelu6, DilationW: 1, DilationH: 1}, []int{padded, cw, cb}, c)
	dw := g.weights("dw_w", Int8, perChannel(8, 3), 1, 3, 3, 8)
	d := g.act("dw", 1, 4, 4, 8)
	g.op(OpDepthwiseConv2D, 3, &DepthwiseConv2DOptions{Padding: PaddingSame, StrideW: 1, StrideH: 1, DepthMultiplier: 1, DilationW: 2, DilationH: 2}, []int{c, dw, -1}, d)
	hs := g.act("hs", 1, 4, 4, 8)
	g.op(OpHardSwish, 1, nil, []int{d}, hs)
	sum := g.act("sum", 1, 4, 4, 8)
	g.op(OpAdd, 2, &AddOptions{Activation: ActRelu}, []int{hs, c}, sum)
	sig := g.act("sig", 1, 4, 4, 8)
	g.op(OpLogistic, 1, nil, []int{sum}, sig)
	prod := g.act("prod", 1, 4, 4, 8)
	g.op(OpMul, 2, &MulOptions{}, []int{sum, sig}, prod)
	mp := g.act("maxpool", 1, 2, 2, 8)
	g.op(OpMaxPool2D, 2, &Pool2DOptions{Padding: PaddingValid, StrideW: 2, StrideH: 2, FilterWidth: 2, FilterHeight: 2}, []int{prod}, mp)
	ap := g.act("avgpool", 1, 1, 1, 8)
	g.op(OpAveragePool2D, 2, &Pool2DOptions{Padding: PaddingValid, StrideW: 1, StrideH: 1, FilterWidth: 2, FilterHeight: 2}, []int{mp}, ap)
	axes := g.tensor("axes", Int32, []int32{2}, nil, []byte{1, 0, 0, 0, 2, 0, 0, 0})
	mean := g.act("mean", 1, 8)
	g.op(OpMean, 2, &ReducerOptions{KeepDims: false}, []int{prod, axes}, mean)
	fw := g.weights("fc_w", Int8, &Quantization{Scale: []float32{0.01}, ZeroPoint: []int64{0}}, 10, 8)
	fb := g.weights("fc_b", Int32, &Quantization{Scale: []float32{0.0005}, ZeroPoint: []int64{0}}, 10)
	fc := g.act("fc", 1, 10)
	g.op(OpFullyConnected, 5, &FullyConnectedOptions{KeepNumDims: true}, []int{mean, fw, fb}, fc)
	rs := g.act("reshape", 10)
	g.op(OpReshape, 1, &ReshapeOptions{NewShape: []int32{10}}, []int{fc}, rs)
	sm := g.tensor("softmax", Int8, []int32{10}, &Quantization{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{-128}, Min: []float32{0}, Max: []float32{1}}, nil)
	g.op(OpSoftmax, 2, &SoftmaxOptions{Beta: 1}, []int{rs}, sm)
	out := g.tensor("output", Float32, []int32{10}, nil, nil)
	g.op(OpDequantize, 2, nil, []int{sm}, out)
	g.m.Outputs = []int{out, ap}
	return &g.m
}

// realFile reads one of the shared reference models' raw bytes.
func realFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(refdata.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// realModels are the reference models every round-trip test covers.
var realModels = []string{"hello_world_int8.tflite", "person_detect.tflite", "mobilenet_v2_quantized_1x3x224x224.tflite"}
