package xnnpack

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"

	"edgenas/tflite"
)

// mb builds small int8 models for tests. Activation quantization is left
// open and fixed by calibrate, which runs the float reference and picks each
// output's scale from the range it actually takes.
type mb struct {
	m   tflite.Model
	rng *rand.Rand
}

func newMB(seed uint64) *mb { return &mb{rng: rand.New(rand.NewPCG(seed, 7))} }

func (b *mb) tensor(t tflite.Tensor) int {
	b.m.Tensors = append(b.m.Tensors, t)
	return len(b.m.Tensors) - 1
}

// input adds a graph input with fixed quantization.
func (b *mb) input(shape []int32, scale float32, zp int64) int {
	t := b.tensor(tflite.Tensor{Name: "input", Type: tflite.Int8, Shape: shape, Quant: &tflite.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}})
	b.m.Inputs = append(b.m.Inputs, t)
	return t
}

// act adds an activation whose quantization calibrate chooses.
func (b *mb) act(shape ...int32) int {
	return b.tensor(tflite.Tensor{Name: "act", Type: tflite.Int8, Shape: shape, Quant: &tflite.Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}}})
}

// weights adds random int8 constants, per-channel along axis (or per-tensor
// for axis < 0).
func (b *mb) weights(axis int, shape ...int32) int {
	t := tflite.Tensor{Name: "w", Type: tflite.Int8, Shape: shape, Quant: &tflite.Quantization{}}
	t.Data = make([]byte, t.NumElements())
	for i := range t.Data {
		t.Data[i] = byte(int8(b.rng.IntN(255) - 127))
	}
	n := 1
	if axis >= 0 {
		n = int(shape[axis])
		t.Quant.Axis = int32(axis)
	}
	for range n {
		t.Quant.Scale = append(t.Quant.Scale, 0.004+0.01*b.rng.Float32())
		t.Quant.ZeroPoint = append(t.Quant.ZeroPoint, 0)
	}
	return b.tensor(t)
}

// bias adds random int32 biases for filter w; calibrate sets their scales
// to input scale * filter scale as TFLite requires.
func (b *mb) bias(w int) int {
	wt := &b.m.Tensors[w]
	n := wt.Shape[0]
	if len(wt.Shape) == 4 && wt.Shape[0] == 1 {
		n = wt.Shape[3]
	}
	t := tflite.Tensor{Name: "b", Type: tflite.Int32, Shape: []int32{n}, Quant: &tflite.Quantization{}, Data: make([]byte, 4*n)}
	for i := range int(n) {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(int32(b.rng.IntN(4001)-2000)))
	}
	return b.tensor(t)
}

// ints adds a constant int32 tensor (axes, paddings, shapes).
func (b *mb) ints(shape []int32, v ...int32) int {
	t := tflite.Tensor{Name: "i32", Type: tflite.Int32, Shape: shape, Data: make([]byte, 4*len(v))}
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(x))
	}
	return b.tensor(t)
}

func (b *mb) op(code tflite.Opcode, opts any, out int, ins ...int) int {
	b.m.Operators = append(b.m.Operators, tflite.Operator{Op: code, Version: 1, Inputs: ins, Outputs: []int{out}, Options: opts})
	return out
}

// model marks outs as graph outputs and calibrates activations on a random input.
func (b *mb) model(outs ...int) *tflite.Model {
	b.m.Outputs = outs
	m := &b.m
	calibrate(m, randomInputs(m, b.rng))
	return m
}

func randomInputs(m *tflite.Model, rng *rand.Rand) [][]byte {
	var in [][]byte
	for i := range m.Inputs {
		d := make([]byte, m.Input(i).Bytes())
		for k := range d {
			d[k] = byte(rng.IntN(256))
		}
		in = append(in, d)
	}
	return in
}

// calibrate fixes bias scales and picks every activation's quantization
// from the float range it takes on inputs, running the float reference.
func calibrate(m *tflite.Model, inputs [][]byte) {
	floatRun(m, inputs, true)
}

// reference returns the graph outputs of the float reference, quantized.
func reference(m *tflite.Model, inputs [][]byte) [][]byte {
	return floatRun(m, inputs, false)
}

func floatRun(m *tflite.Model, inputs [][]byte, calib bool) [][]byte {
	vals := make([][]float64, len(m.Tensors))
	raw := make([][]byte, len(m.Tensors))
	for i, t := range m.Inputs {
		raw[t] = inputs[i]
		vals[t] = dequant(&m.Tensors[t], inputs[i])
	}
	for k := range m.Operators {
		op := &m.Operators[k]
		if calib && len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
			bt, wt := &m.Tensors[op.Inputs[2]], &m.Tensors[op.Inputs[1]]
			is := m.Tensors[op.Inputs[0]].Quant.Scale[0]
			bt.Quant.Scale, bt.Quant.ZeroPoint = nil, nil
			for _, s := range wt.Quant.Scale {
				bt.Quant.Scale = append(bt.Quant.Scale, is*s)
				bt.Quant.ZeroPoint = append(bt.Quant.ZeroPoint, 0)
			}
		}
		for _, t := range op.Inputs {
			if t >= 0 && m.Tensors[t].IsConst() {
				vals[t] = dequant(&m.Tensors[t], m.Tensors[t].Data)
			}
		}
		v, err := evalFloat(m, op, vals)
		if err != nil {
			panic(err)
		}
		out := &m.Tensors[op.Outputs[0]]
		if calib {
			out.Quant = chooseQuant(m, op, v)
		}
		raw[op.Outputs[0]] = quantize(out, v)
		vals[op.Outputs[0]] = dequant(out, raw[op.Outputs[0]])
	}
	var res [][]byte
	for _, t := range m.Outputs {
		res = append(res, raw[t])
	}
	return res
}

func chooseQuant(m *tflite.Model, op *tflite.Operator, v []float64) *tflite.Quantization {
	switch op.Op {
	case tflite.OpLogistic, tflite.OpSoftmax:
		// TFLite's fixed output quantization for probabilities.
		return &tflite.Quantization{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{-128}}
	case tflite.OpReshape, tflite.OpPad, tflite.OpMaxPool2D, tflite.OpAveragePool2D:
		q := *m.Tensors[op.Inputs[0]].Quant
		return &q
	}
	lo, hi := min(0, slices.Min(v)), max(0, slices.Max(v))
	if hi-lo < 1e-6 {
		hi = lo + 1
	}
	scale := (hi - lo) / 255
	zp := math.Round(-128 - lo/scale)
	return &tflite.Quantization{Scale: []float32{float32(scale)}, ZeroPoint: []int64{int64(max(-128, min(127, zp)))}}
}

// maxDiff is the largest difference, in quanta, between two int8 tensors.
func maxDiff(a, b []byte) int {
	d := 0
	for i := range a {
		d = max(d, absInt(int(int8(a[i]))-int(int8(b[i]))))
	}
	return d
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Builders of the test models.

func convModel(seed uint64, in []int32, oc int32, k, stride int32, pad tflite.Padding, act tflite.Activation, axis int, dil int32) *tflite.Model {
	b := newMB(seed)
	x := b.input(in, 0.05, 3)
	w := b.weights(axis, oc, k, k, in[3])
	oh, ow := outSize(in[1], k, stride, dil, pad), outSize(in[2], k, stride, dil, pad)
	y := b.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: pad, StrideH: stride, StrideW: stride, Activation: act, DilationH: dil, DilationW: dil}, b.act(in[0], oh, ow, oc), x, w, b.bias(w))
	return b.model(y)
}

func dwModel(seed uint64, in []int32, mult, k, stride int32, pad tflite.Padding, act tflite.Activation) *tflite.Model {
	return dwModelAxis(seed, in, mult, k, stride, pad, act, 3)
}

// dwModelAxis is dwModel with the filter quantized per channel along axis,
// or per tensor for axis < 0.
func dwModelAxis(seed uint64, in []int32, mult, k, stride int32, pad tflite.Padding, act tflite.Activation, axis int) *tflite.Model {
	b := newMB(seed)
	x := b.input(in, 0.05, -5)
	w := b.weights(axis, 1, k, k, in[3]*mult)
	oh, ow := outSize(in[1], k, stride, 1, pad), outSize(in[2], k, stride, 1, pad)
	y := b.op(tflite.OpDepthwiseConv2D, &tflite.DepthwiseConv2DOptions{Padding: pad, StrideH: stride, StrideW: stride, DepthMultiplier: mult, Activation: act, DilationH: 1, DilationW: 1}, b.act(in[0], oh, ow, in[3]*mult), x, w, b.bias(w))
	return b.model(y)
}

func outSize(in, k, stride, dil int32, pad tflite.Padding) int32 {
	if pad == tflite.PaddingSame {
		return (in + stride - 1) / stride
	}
	return (in-(k-1)*dil-1)/stride + 1
}

// addModel adds two inputs of different scales (a residual connection).
func addModel(seed uint64, act tflite.Activation) *tflite.Model {
	b := newMB(seed)
	x := b.input([]int32{1, 6, 6, 16}, 0.02, -10)
	y := b.input([]int32{1, 6, 6, 16}, 0.07, 12)
	return b.model(b.op(tflite.OpAdd, &tflite.AddOptions{Activation: act}, b.act(1, 6, 6, 16), x, y))
}

// seModel is a squeeze-and-excitation block: MEAN over H,W, FC, ReLU, FC,
// LOGISTIC, RESHAPE, MUL with the block input.
func seModel(seed uint64, fcAxis int) *tflite.Model {
	b := newMB(seed)
	x := b.input([]int32{1, 5, 5, 16}, 0.03, 2)
	m := b.op(tflite.OpMean, &tflite.ReducerOptions{}, b.act(1, 16), x, b.ints([]int32{2}, 1, 2))
	w1 := b.weights(fcAxis, 4, 16)
	h := b.op(tflite.OpFullyConnected, &tflite.FullyConnectedOptions{Activation: tflite.ActRelu}, b.act(1, 4), m, w1, b.bias(w1))
	w2 := b.weights(fcAxis, 16, 4)
	g := b.op(tflite.OpFullyConnected, &tflite.FullyConnectedOptions{}, b.act(1, 16), h, w2, b.bias(w2))
	s := b.op(tflite.OpLogistic, nil, b.act(1, 16), g)
	r := b.op(tflite.OpReshape, &tflite.ReshapeOptions{NewShape: []int32{1, 1, 1, 16}}, b.act(1, 1, 1, 16), s)
	return b.model(b.op(tflite.OpMul, &tflite.MulOptions{}, b.act(1, 5, 5, 16), x, r))
}

// unaryModel is one operator of one input and output of the same shape.
func unaryModel(seed uint64, code tflite.Opcode, opts any, shape ...int32) *tflite.Model {
	b := newMB(seed)
	x := b.input(shape, 0.04, -3)
	return b.model(b.op(code, opts, b.act(shape...), x))
}

func poolModel(seed uint64, code tflite.Opcode, k, stride int32, pad tflite.Padding) *tflite.Model {
	b := newMB(seed)
	in := []int32{1, 9, 9, 8}
	x := b.input(in, 0.04, -3)
	oh := outSize(9, k, stride, 1, pad)
	return b.model(b.op(code, &tflite.Pool2DOptions{Padding: pad, StrideH: stride, StrideW: stride, FilterHeight: k, FilterWidth: k}, b.act(1, oh, oh, 8), x))
}

func padModel(seed uint64) *tflite.Model {
	b := newMB(seed)
	x := b.input([]int32{1, 5, 5, 8}, 0.04, -3)
	return b.model(b.op(tflite.OpPad, nil, b.act(1, 6, 7, 8), x, b.ints([]int32{4, 2}, 0, 0, 0, 1, 1, 1, 0, 0)))
}
