package runtimetest

import "edgenas/tflite"

// rawParts are the pieces of FuzzModel's unchecked model that the classic
// operators' raw forms use.
type rawParts struct {
	m      *tflite.Model
	x, y   int
	add    func(tflite.Tensor) int
	consts func(n int) []byte // int32 constants from the fuzz bytes
	pad    tflite.Padding
	act    tflite.Activation
	opts   uint32
	d      func(i int) int32 // fuzz dimension i, 0 to 6
}

// rawClassicOp builds the classic classifier operators (average pooling,
// activations, shape operators, MUL, MEAN, QUANTIZE, DEQUANTIZE) on the
// fuzz bytes' shapes, constants and options, checked by nobody.
func rawClassicOp(op tflite.Opcode, p rawParts) tflite.Operator {
	o := tflite.Operator{Inputs: []int{p.x}}
	vec := func(name string, n int) int {
		return p.add(tflite.Tensor{Name: name, Type: tflite.Int32, Shape: []int32{int32(n)}, Data: p.consts(n)})
	}
	switch op {
	case tflite.OpAveragePool2D:
		o.Options = &tflite.Pool2DOptions{Padding: p.pad, StrideW: 1 + int32(p.opts>>12%3), StrideH: 1 + int32(p.opts>>14%3),
			FilterWidth: 1 + p.d(8), FilterHeight: 1 + p.d(9), Activation: p.act}
	case tflite.OpSoftmax:
		o.Options = &tflite.SoftmaxOptions{Beta: float32(p.opts>>16&15) / 4}
	case tflite.OpReshape:
		o.Inputs = append(o.Inputs, vec("shape", 4))
		o.Options = &tflite.ReshapeOptions{NewShape: []int32{p.d(4), p.d(5), p.d(6), p.d(7)}}
	case tflite.OpPad:
		o.Inputs = append(o.Inputs, p.add(tflite.Tensor{Name: "pads", Type: tflite.Int32, Shape: []int32{4, 2}, Data: p.consts(8)}))
	case tflite.OpTranspose:
		o.Inputs = append(o.Inputs, vec("perm", 4))
		o.Options = &tflite.TransposeOptions{}
	case tflite.OpMean:
		o.Inputs = append(o.Inputs, vec("axes", 2))
		o.Options = &tflite.ReducerOptions{KeepDims: p.opts>>16&1 == 1}
	case tflite.OpMul:
		x2 := p.add(tflite.Tensor{Name: "x2", Type: tflite.Int8, Shape: []int32{p.d(8), p.d(9), p.d(10), p.d(11)}, Quant: p.m.Tensors[p.x].Quant})
		p.m.Inputs = append(p.m.Inputs, x2)
		o.Inputs = append(o.Inputs, x2)
		o.Options = &tflite.MulOptions{Activation: p.act}
	case tflite.OpQuantize:
		if p.opts>>16&1 == 1 {
			p.m.Tensors[p.x].Type, p.m.Tensors[p.x].Quant = tflite.Float32, nil
		}
	case tflite.OpDequantize:
		p.m.Tensors[p.y].Type, p.m.Tensors[p.y].Quant = tflite.Float32, nil
	}
	return o
}

// consistentClassicOp adds op to g on input x with parameters from the
// fuzz bytes (at), bits of opts (bit), padding and activation.
func consistentClassicOp(g *Graph, op tflite.Opcode, x int, at func(int) int, bit func(uint) bool, pad tflite.Padding, act tflite.Activation) {
	sh := g.Shape(x)
	q := g.QuantOf(x)
	other := Quant{Scale: q.Scale * float32(1+at(4)%4) / 2, ZeroPoint: int8(at(5))}
	switch op {
	case tflite.OpAveragePool2D:
		g.AveragePool(x, 1+at(0)%4, 1+at(1)%3, pad)
	case tflite.OpSoftmax:
		g.Softmax(x, float32(1+at(0)%8)/4)
	case tflite.OpHardSwish:
		g.HardSwish(x, Quant{})
	case tflite.OpLogistic:
		g.Logistic(x)
	case tflite.OpReshape:
		g.Reshape(x, []int32{sh[0] * sh[1], sh[2] * sh[3]})
	case tflite.OpPad:
		p := func(i int) int32 { return int32(at(i) % 4) }
		g.Pad(x, [][2]int32{{p(0), p(1)}, {p(2), p(3)}, {p(4), p(5)}, {p(6), p(7)}})
	case tflite.OpQuantize:
		g.Quantize(g.FloatInput(sh), other)
	case tflite.OpDequantize:
		g.Dequantize(x)
	case tflite.OpTranspose:
		perm := [][]int32{{0, 1, 2, 3}, {0, 2, 1, 3}, {3, 2, 1, 0}, {0, 3, 1, 2}, {1, 0, 3, 2}}[at(0)%5]
		g.Transpose(x, perm)
	case tflite.OpMul:
		s2 := sh
		if bit(10) {
			s2 = []int32{1, 1, 1, sh[3]}
		}
		g.Mul(x, g.Input(s2, other), act, Quant{})
	case tflite.OpMean:
		axes := [][]int32{{1, 2}, {2, 1}, {-3, -2}, {3}, {0, 1, 2}}[at(0)%5]
		out := Quant{}
		if bit(11) {
			out = other
		}
		g.Mean(x, axes, bit(10), out)
	}
}
