package ref

import (
	"errors"
	"fmt"
	"math"

	"edgenas/tflite"
)

type fcInt8 struct {
	batch, k, n  int
	in, out      int
	weights      []int8 // [n][k]
	bias         []int32
	mult         []int32
	shift        []int
	zpIn, zpW    int32
	zpOut        int32
	actLo, actHi int32
	wsum         []int32
}

type fcFloat struct {
	batch, k, n  int
	in, out      int
	weights      []float32
	bias         []float32
	actLo, actHi float32
}

func newFullyConnected(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.FullyConnectedOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *FullyConnectedOptions", o.Options)
	}
	in, f, out := t.in(0), t.in(1), t.out()
	if len(f.Shape) != 2 {
		return nil, fmt.Errorf("weights rank %d, want 2", len(f.Shape))
	}
	if !f.IsConst() {
		return nil, errors.New("weights must be constant")
	}
	n, k := int(f.Shape[0]), int(f.Shape[1])
	total := in.NumElements()
	if k == 0 || total%k != 0 {
		return nil, fmt.Errorf("input %v is not a whole number of rows of %d", in.Shape, k)
	}
	batch := total / k
	if out.NumElements() != batch*n || len(out.Shape) == 0 || int(out.Shape[len(out.Shape)-1]) != n {
		return nil, fmt.Errorf("output %v, want %d rows of %d", out.Shape, batch, n)
	}
	switch {
	case in.Type == tflite.Float32 && f.Type == tflite.Float32 && out.Type == tflite.Float32:
		lo, hi, err := activationRangeFloat(opts.Activation)
		if err != nil {
			return nil, err
		}
		bias, err := biasData(t.in(2), n, tflite.Float32)
		if err != nil {
			return nil, err
		}
		c := &fcFloat{batch: batch, k: k, n: n, in: t.inIdx(0), out: t.outIdx(),
			weights: decodeFloat32s(f.Data), bias: make([]float32, n), actLo: lo, actHi: hi}
		if bias != nil {
			c.bias = decodeFloat32s(bias)
		}
		return c, nil
	case in.Type == tflite.Int8 && f.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		lo, hi, err := activationRangeQuantized(opts.Activation, outS, outZ)
		if err != nil {
			return nil, err
		}
		bias, err := biasData(t.in(2), n, tflite.Int32)
		if err != nil {
			return nil, err
		}
		c := &fcInt8{batch: batch, k: k, n: n, in: t.inIdx(0), out: t.outIdx(),
			weights: append([]int8(nil), i8(f.Data)...), bias: make([]int32, n),
			zpIn: inZ, zpOut: outZ, actLo: lo, actHi: hi, wsum: make([]int32, n)}
		if bias != nil {
			c.bias = decodeInt32s(bias)
		}
		if err := c.multipliers(f, inS, outS); err != nil {
			return nil, err
		}
		for o := range n {
			var s int32
			for _, v := range c.weights[o*k : (o+1)*k] {
				s += int32(v)
			}
			c.wsum[o] = s
		}
		return c, nil
	}
	return nil, fmt.Errorf("input %v, weights %v, output %v: supported are all float32 or all int8", in.Type, f.Type, out.Type)
}

// multipliers follows fully_connected.cc: per-tensor weights use
// GetQuantizedConvolutionMultipler, whose input*filter scale product is
// computed in float32 before widening; per-channel weights (newer TFLite)
// use the double-precision product of PopulateConvolutionQuantizationParams.
func (c *fcInt8) multipliers(f *tflite.Tensor, inS, outS float32) error {
	q := f.Quant
	if q == nil || len(q.Scale) == 0 || len(q.ZeroPoint) == 0 {
		return fmt.Errorf("weights %q have no quantization parameters", f.Name)
	}
	c.mult = make([]int32, c.n)
	c.shift = make([]int, c.n)
	if len(q.Scale) == 1 {
		s := q.Scale[0]
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("weights %q: scale %v", f.Name, s)
		}
		if q.ZeroPoint[0] < math.MinInt8 || q.ZeroPoint[0] > math.MaxInt8 {
			return fmt.Errorf("weights %q: zero point %d", f.Name, q.ZeroPoint[0])
		}
		c.zpW = int32(q.ZeroPoint[0])
		product := float64(inS * s)
		mult, shift := QuantizeMultiplier(product / float64(outS))
		for i := range c.mult {
			c.mult[i], c.shift[i] = mult, shift
		}
		return nil
	}
	ws, err := channelScales(f, c.n, 0, "weights")
	if err != nil {
		return err
	}
	c.mult, c.shift = perChannelMultipliers(inS, ws, outS)
	return nil
}

func (c *fcInt8) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, c.in, c.batch*c.k)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, c.out, c.batch*c.n)
	if err != nil {
		return err
	}
	// Σ(x-zx)(w-zw) = Σxw - zx·Σw - zw·Σx + k·zx·zw, with Σw precomputed.
	for b := range c.batch {
		row := x[b*c.k : (b+1)*c.k]
		var xsum int32
		for _, v := range row {
			xsum += int32(v)
		}
		constant := int32(c.k)*c.zpIn*c.zpW - c.zpW*xsum
		out := y[b*c.n : (b+1)*c.n]
		for o := range c.n {
			acc := dotI8(row, c.weights[o*c.k:(o+1)*c.k]) - c.zpIn*c.wsum[o] + constant + c.bias[o]
			out[o] = requant(acc, c.mult[o], c.shift[o], c.zpOut, c.actLo, c.actHi)
		}
	}
	return nil
}

func (c *fcFloat) Eval(bufs [][]byte) error {
	x, err := f32buf(bufs, c.in, c.batch*c.k)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, c.out, c.batch*c.n)
	if err != nil {
		return err
	}
	for b := range c.batch {
		dotRowsF32(x[b*c.k:(b+1)*c.k], c.weights, c.bias, y[b*c.n:(b+1)*c.n], c.actLo, c.actHi)
	}
	return nil
}
