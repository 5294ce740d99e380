// Package runtimetest supports tests of edgenas runtimes, as net/http/httptest
// does for HTTP: it builds small int8 TFLite models in memory with seeded
// random weights and realistic quantization, turns an int8 model into the
// same graph in float32, and measures how far an interpreter's int8 results
// are from the float reference, in quanta of the output scale.
package runtimetest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"edgenas/tflite"
)

// Quant is per-tensor int8 activation quantization: real = Scale*(q-ZeroPoint).
// A zero Scale asks the builder to choose parameters from the operator's
// expected output range.
type Quant struct {
	Scale     float32
	ZeroPoint int8
}

func (q Quant) tflite() *tflite.Quantization {
	return &tflite.Quantization{Scale: []float32{q.Scale}, ZeroPoint: []int64{int64(q.ZeroPoint)}}
}

// lo and hi are the real bounds of the int8 grid.
func (q Quant) lo() float64 { return float64(q.Scale) * float64(-128-int32(q.ZeroPoint)) }
func (q Quant) hi() float64 { return float64(q.Scale) * float64(127-int32(q.ZeroPoint)) }

// rangeQuant returns the quantization covering [lo, hi] (widened to hold 0).
func rangeQuant(lo, hi float64) Quant {
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	if hi-lo < 1e-6 {
		hi = lo + 1e-6
	}
	s := (hi - lo) / 255
	zp := math.Round(-128 - lo/s)
	return Quant{Scale: float32(s), ZeroPoint: int8(max(-128, min(127, zp)))}
}

// Graph builds a model operator by operator. Methods take and return tensor
// indices. Builder mistakes (mismatched shapes, bad arguments) panic: the
// builder is for tests, where the model is the test's own constant.
type Graph struct {
	m   tflite.Model
	rng *rand.Rand
}

// NewGraph starts an empty model whose random data derives from seed.
func NewGraph(seed uint64) *Graph {
	return &Graph{m: tflite.Model{Version: tflite.SchemaVersion, Description: "runtimetest"}, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// Model returns the model built so far. If no output was marked, the last
// operator's output is the graph output.
func (g *Graph) Model() *tflite.Model {
	m := g.m
	if len(m.Outputs) == 0 && len(m.Operators) > 0 {
		op := m.Operators[len(m.Operators)-1]
		m.Outputs = []int{op.Outputs[0]}
	}
	return &m
}

// Shape returns tensor t's shape.
func (g *Graph) Shape(t int) []int32 { return g.m.Tensors[t].Shape }

// QuantOf returns an int8 tensor's quantization.
func (g *Graph) QuantOf(t int) Quant {
	q := g.m.Tensors[t].Quant
	return Quant{Scale: q.Scale[0], ZeroPoint: int8(q.ZeroPoint[0])}
}

func (g *Graph) tensor(t tflite.Tensor) int {
	t.Name = fmt.Sprintf("t%d", len(g.m.Tensors))
	g.m.Tensors = append(g.m.Tensors, t)
	return len(g.m.Tensors) - 1
}

func (g *Graph) activation(shape []int32, q Quant) int {
	return g.tensor(tflite.Tensor{Type: tflite.Int8, Shape: append([]int32(nil), shape...), Quant: q.tflite()})
}

func (g *Graph) op(code tflite.Opcode, version int32, opts any, out int, in ...int) int {
	g.m.Operators = append(g.m.Operators, tflite.Operator{Op: code, Version: version, Inputs: in, Outputs: []int{out}, Options: opts})
	return out
}

// Input adds an int8 graph input.
func (g *Graph) Input(shape []int32, q Quant) int {
	if q.Scale == 0 {
		q = Quant{Scale: 1.0 / 64, ZeroPoint: 0}
	}
	t := g.activation(shape, q)
	g.m.Inputs = append(g.m.Inputs, t)
	return t
}

// FloatInput adds a float32 graph input.
func (g *Graph) FloatInput(shape []int32) int {
	t := g.tensor(tflite.Tensor{Type: tflite.Float32, Shape: append([]int32(nil), shape...)})
	g.m.Inputs = append(g.m.Inputs, t)
	return t
}

// Output marks t as a graph output.
func (g *Graph) Output(t int) { g.m.Outputs = append(g.m.Outputs, t) }

func int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		u := uint32(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// constInt32 adds an unquantized int32 constant (axes, permutations, paddings).
func (g *Graph) constInt32(shape []int32, v []int32) int {
	return g.tensor(tflite.Tensor{Type: tflite.Int32, Shape: shape, Data: int32Bytes(v)})
}

// weights adds symmetric int8 weights of the given shape, quantized per
// channel along axis (or per tensor when axis < 0), with realistic scales
// for a fan-in of fanIn. It returns the tensor and the per-channel scales.
func (g *Graph) weights(shape []int32, axis, fanIn int) (int, []float32) {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(int8(g.rng.IntN(255) - 127))
	}
	// He-like magnitude: w ≈ N(0, 2/fanIn), int8 grid covering ±3σ.
	base := 3 * math.Sqrt(2/float64(max(fanIn, 1))) / 127
	channels := 1
	if axis >= 0 {
		channels = int(shape[axis])
	}
	scales := make([]float32, channels)
	zps := make([]int64, channels)
	for c := range scales {
		scales[c] = float32(base * (0.5 + g.rng.Float64()))
	}
	q := &tflite.Quantization{Scale: scales, ZeroPoint: zps}
	if axis >= 0 {
		q.Axis = int32(axis)
	}
	return g.tensor(tflite.Tensor{Type: tflite.Int8, Shape: shape, Data: data, Quant: q}), scales
}

// bias adds an int32 bias with scale inScale*wScale[c] and zero point 0,
// real values up to ±mag.
func (g *Graph) bias(n int, inScale float32, wScales []float32, mag float64) int {
	v := make([]int32, n)
	scales := make([]float32, len(wScales))
	for c := range scales {
		scales[c] = inScale * wScales[c]
	}
	for i := range v {
		s := scales[0]
		if len(scales) > 1 {
			s = scales[i]
		}
		v[i] = int32(math.Round((2*g.rng.Float64() - 1) * mag / float64(s)))
	}
	q := &tflite.Quantization{Scale: scales, ZeroPoint: make([]int64, len(scales))}
	return g.tensor(tflite.Tensor{Type: tflite.Int32, Shape: []int32{int32(n)}, Data: int32Bytes(v), Quant: q})
}

// accQuant picks the output quantization of a weighted sum with fanIn terms
// of the input's real range and He-scaled weights: ±3σ of the sum, clipped
// by the activation.
func accQuant(in Quant, fanIn int, act tflite.Activation) Quant {
	rms := math.Max(math.Abs(in.lo()), math.Abs(in.hi())) / math.Sqrt(3)
	sigma := rms * math.Sqrt(float64(fanIn)) * math.Sqrt(2/float64(max(fanIn, 1)))
	lo, hi := -3*sigma, 3*sigma
	switch act {
	case tflite.ActRelu:
		lo = 0
	case tflite.ActRelu6:
		lo, hi = 0, math.Min(hi, 6)
	case tflite.ActReluN1To1:
		lo, hi = -1, 1
	}
	return rangeQuant(lo, hi)
}
