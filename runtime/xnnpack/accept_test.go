//go:build cgo

package xnnpack

import (
	"math/rand/v2"
	"testing"

	"edgenas/tflite"
)

// Which operators and configurations this XNNPACK build (Debian's
// 0.0~git20220216) accepts, asked of the real library through probe. The
// table is the record the team plans with: a newer library that accepts
// more makes the test fail on purpose, so the table gets updated.

// probeModel is a one-operator model whose quantization is fixed by hand
// (not calibrated: several operators here have no float reference).
type probeModel struct {
	b *mb
}

func newProbe() *probeModel { return &probeModel{b: newMB(1)} }

// q8 adds an int8 activation with the given quantization.
func (p *probeModel) q8(scale float32, zp int64, shape ...int32) int {
	return p.b.tensor(tflite.Tensor{Name: "a", Type: tflite.Int8, Shape: shape, Quant: &tflite.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}})
}

func (p *probeModel) f32(shape ...int32) int {
	return p.b.tensor(tflite.Tensor{Name: "f", Type: tflite.Float32, Shape: shape})
}

// biasFor gives bias tensor bt the scales TFLite requires: input scale
// times each filter scale.
func (p *probeModel) biasFor(x, w int) int {
	bt := p.b.bias(w)
	m := &p.b.m
	is := m.Tensors[x].Quant.Scale[0]
	for _, s := range m.Tensors[w].Quant.Scale {
		m.Tensors[bt].Quant.Scale = append(m.Tensors[bt].Quant.Scale, is*s)
		m.Tensors[bt].Quant.ZeroPoint = append(m.Tensors[bt].Quant.ZeroPoint, 0)
	}
	return bt
}

// one finishes a model of the single operator code with the given inputs.
func (p *probeModel) one(code tflite.Opcode, opts any, out int, ins ...int) *tflite.Model {
	p.b.op(code, opts, out, ins...)
	m := &p.b.m
	m.Outputs = []int{out}
	for _, t := range ins {
		if t >= 0 && !m.Tensors[t].IsConst() {
			m.Inputs = append(m.Inputs, t)
		}
	}
	return m
}

func probeConv(act tflite.Activation, inC, filterC int32, axis int, pad tflite.Padding) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, 8, 8, inC)
	w := p.b.weights(axis, 8, 3, 3, filterC)
	o := &tflite.Conv2DOptions{Padding: pad, StrideH: 2, StrideW: 2, Activation: act, DilationH: 1, DilationW: 1}
	oh := outSize(8, 3, 2, 1, pad)
	return p.one(tflite.OpConv2D, o, p.q8(0.1, -2, 1, oh, oh, 8), x, w, p.biasFor(x, w))
}

func probeDW(k, stride, mult, dil int32) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, 9, 9, 4)
	w := p.b.weights(3, 1, k, k, 4*mult)
	o := &tflite.DepthwiseConv2DOptions{Padding: tflite.PaddingSame, StrideH: stride, StrideW: stride, DepthMultiplier: mult, Activation: tflite.ActRelu6, DilationH: dil, DilationW: dil}
	oh := outSize(9, k, stride, dil, tflite.PaddingSame)
	return p.one(tflite.OpDepthwiseConv2D, o, p.q8(0.1, -2, 1, oh, oh, 4*mult), x, w, p.biasFor(x, w))
}

func probeFC(in []int32, out []int32, axis int, keep, bias bool) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, in...)
	w := p.b.weights(axis, 6, in[len(in)-1])
	bt := -1
	if bias {
		bt = p.biasFor(x, w)
	}
	return p.one(tflite.OpFullyConnected, &tflite.FullyConnectedOptions{KeepNumDims: keep}, p.q8(0.1, 0, out...), x, w, bt)
}

func probeBinary(code tflite.Opcode, a, b []int32, constB bool) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, a...)
	var y int
	if constB {
		y = p.b.weights(-1, b...)
	} else {
		y = p.q8(0.02, -7, b...)
	}
	var opts any = &tflite.AddOptions{Activation: tflite.ActRelu6}
	if code == tflite.OpMul {
		opts = &tflite.MulOptions{}
	}
	return p.one(code, opts, p.q8(0.1, 1, a...), x, y)
}

func probePool(code tflite.Opcode, k, s int32, pad tflite.Padding) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, 8, 8, 4)
	oh := outSize(8, k, s, 1, pad)
	return p.one(code, &tflite.Pool2DOptions{Padding: pad, StrideH: s, StrideW: s, FilterHeight: k, FilterWidth: k}, p.q8(0.05, 3, 1, oh, oh, 4), x)
}

// probeMean averages a side x side image; outScale is the output's scale.
func probeMean(keep bool, side int32, outScale float32, axes ...int32) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, side, side, 8)
	out := []int32{1, 8}
	if keep {
		out = []int32{1, 1, 1, 8}
	}
	return p.one(tflite.OpMean, &tflite.ReducerOptions{KeepDims: keep}, p.q8(outScale, 2, out...), x, p.b.ints([]int32{int32(len(axes))}, axes...))
}

func probeUnary(code tflite.Opcode, opts any, outScale float32, outZP int64) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, 4, 4, 8)
	return p.one(code, opts, p.q8(outScale, outZP, 1, 4, 4, 8), x)
}

func probeConvert(code tflite.Opcode, inFloat, outFloat bool) *tflite.Model {
	p := newProbe()
	x := p.q8(0.05, 3, 1, 4, 4, 8)
	if inFloat {
		x = p.f32(1, 4, 4, 8)
	}
	y := p.q8(0.07, -1, 1, 4, 4, 8)
	if outFloat {
		y = p.f32(1, 4, 4, 8)
	}
	return p.one(code, nil, y, x)
}

func TestAcceptedOperators(t *testing.T) {
	same, valid := tflite.PaddingSame, tflite.PaddingValid
	cases := []struct {
		name   string
		m      *tflite.Model
		accept bool
	}{
		// Accepted configurations are also run and compared with the float
		// reference (when it has the operator), so "accepted" means
		// "computes the right thing", not only "the library said yes".
		{"CONV_2D per-channel SAME s2 RELU6", probeConv(tflite.ActRelu6, 4, 4, 0, same), true},
		{"CONV_2D per-tensor VALID", probeConv(tflite.ActNone, 4, 4, -1, valid), true},
		{"CONV_2D grouped (2 groups)", probeConv(tflite.ActRelu, 8, 4, 0, same), true},
		{"CONV_2D fused TANH", probeConv(tflite.ActTanh, 4, 4, 0, same), false},
		{"DEPTHWISE_CONV_2D 3x3 s1", probeDW(3, 1, 1, 1), true},
		{"DEPTHWISE_CONV_2D 5x5 s2", probeDW(5, 2, 1, 1), true},
		{"DEPTHWISE_CONV_2D multiplier 8", probeDW(3, 2, 8, 1), true},
		{"DEPTHWISE_CONV_2D dilation 2", probeDW(3, 1, 1, 2), true},
		{"FULLY_CONNECTED per-tensor 2-D", probeFC([]int32{1, 16}, []int32{1, 6}, -1, false, true), true},
		{"FULLY_CONNECTED per-tensor no bias", probeFC([]int32{1, 16}, []int32{1, 6}, -1, false, false), true},
		{"FULLY_CONNECTED 4-D input flattened", probeFC([]int32{1, 2, 2, 4}, []int32{4, 6}, -1, false, true), true},
		// XNNPACK would write 4x6 bytes into the declared 1x6: refused here.
		{"FULLY_CONNECTED wrong output shape", probeFC([]int32{1, 2, 2, 4}, []int32{1, 6}, -1, false, true), false},
		{"FULLY_CONNECTED keep_num_dims 3-D", probeFC([]int32{1, 3, 16}, []int32{1, 3, 6}, -1, true, true), true},
		{"FULLY_CONNECTED per-channel", probeFC([]int32{1, 16}, []int32{1, 6}, 0, false, true), false},
		{"ADD same shape", probeBinary(tflite.OpAdd, []int32{1, 4, 4, 8}, []int32{1, 4, 4, 8}, false), true},
		{"ADD broadcast [1,1,1,C]", probeBinary(tflite.OpAdd, []int32{1, 4, 4, 8}, []int32{1, 1, 1, 8}, false), true},
		{"ADD constant operand", probeBinary(tflite.OpAdd, []int32{1, 4, 4, 8}, []int32{1, 4, 4, 8}, true), true},
		{"MUL broadcast [1,1,1,C] (SE gate)", probeBinary(tflite.OpMul, []int32{1, 4, 4, 8}, []int32{1, 1, 1, 8}, false), true},
		{"MAX_POOL_2D 2x2 s2 VALID", probePool(tflite.OpMaxPool2D, 2, 2, valid), true},
		{"MAX_POOL_2D 3x3 s2 SAME", probePool(tflite.OpMaxPool2D, 3, 2, same), true},
		{"AVERAGE_POOL_2D 3x3 s2 SAME", probePool(tflite.OpAveragePool2D, 3, 2, same), false},
		// 4x4, equal scales, even output zero point: global average pooling
		// rounds every sum as TFLite's XNNPACK delegate does (with its fp32
		// kernels, x86); 5x5 to another scale it does not (mean.go), and the
		// operator goes to the delegate's arithmetic.
		{"MEAN over H,W keep_dims", probeMean(true, 4, 0.05, 1, 2), gavgpoolFP32},
		{"MEAN over H,W no keep_dims", probeMean(false, 4, 0.05, 1, 2), gavgpoolFP32},
		{"MEAN over H,W rounding unlike the delegate's", probeMean(true, 5, 0.04, 1, 2), false},
		{"MEAN over C", probeMean(false, 4, 0.05, 3), false},
		{"LOGISTIC (output 1/256, -128)", probeUnary(tflite.OpLogistic, nil, 1.0/256, -128), true},
		{"LOGISTIC (other output quantization)", probeUnary(tflite.OpLogistic, nil, 0.01, 0), false},
		{"HARD_SWISH", probeUnary(tflite.OpHardSwish, nil, 0.05, 3), false},
		{"SOFTMAX", probeUnary(tflite.OpSoftmax, &tflite.SoftmaxOptions{Beta: 1}, 1.0/256, -128), false},
		{"RESHAPE same quantization", probeUnary(tflite.OpReshape, &tflite.ReshapeOptions{}, 0.05, 3), true},
		{"RESHAPE requantizing", probeUnary(tflite.OpReshape, &tflite.ReshapeOptions{}, 0.07, 3), false},
		{"QUANTIZE float32 to int8", probeConvert(tflite.OpQuantize, true, false), true},
		{"QUANTIZE int8 to int8 (requantize)", probeConvert(tflite.OpQuantize, false, false), false},
		{"DEQUANTIZE int8 to float32", probeConvert(tflite.OpDequantize, false, true), true},
		{"TRANSPOSE", probeUnary(tflite.OpTranspose, &tflite.TransposeOptions{}, 0.05, 3), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := probe(c.m, 0)
			if got := err == nil; got != c.accept {
				t.Fatalf("accepted %v (%v), want %v", got, err, c.accept)
			}
			if err != nil {
				t.Logf("rejected: %v", err)
				return
			}
			if !hasFloatReference(c.m) {
				return
			}
			rng := rand.New(rand.NewPCG(5, 5))
			for trial := range 2 {
				in := randomInputs(c.m, rng)
				want, got := reference(c.m, in), run(t, c.m, 1, in)
				if d := maxDiff(got[0], want[0]); d > 1 {
					t.Errorf("trial %d: %d quanta from the float reference", trial, d)
				}
			}
		})
	}
}

// hasFloatReference reports whether evalFloat computes m's only operator
// (it has no QUANTIZE/DEQUANTIZE/TRANSPOSE and no grouped convolution).
func hasFloatReference(m *tflite.Model) bool {
	op := &m.Operators[0]
	switch op.Op {
	case tflite.OpQuantize, tflite.OpDequantize, tflite.OpTranspose:
		return false
	case tflite.OpConv2D:
		return m.Tensors[op.Inputs[0]].Shape[3] == m.Tensors[op.Inputs[1]].Shape[3]
	}
	return true
}
