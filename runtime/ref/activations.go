package ref

import (
	"errors"
	"fmt"
	"math"

	"edgenas/tflite"
)

// unary is the common shape of the element-wise operators: one input, one
// output of the same shape.
type unary struct {
	in, out int
	n       int
}

func newUnary(m *tflite.Model, o *tflite.Operator) (unary, *tflite.Tensor, *tflite.Tensor, error) {
	t := opTensors{m, o}
	if err := t.need(1); err != nil {
		return unary{}, nil, nil, err
	}
	in, out := t.in(0), t.out()
	if !sameShape(in.Shape, out.Shape) {
		return unary{}, nil, nil, fmt.Errorf("output shape %v differs from input %v", out.Shape, in.Shape)
	}
	return unary{in: t.inIdx(0), out: t.outIdx(), n: in.NumElements()}, in, out, nil
}

// requireProbabilityOutput checks TFLite's fixed int8 output quantization of
// LOGISTIC and SOFTMAX: scale 1/256, zero point -128.
func requireProbabilityOutput(out *tflite.Tensor, tolerance float64) error {
	s, z, err := quantParams(out, "output")
	if err != nil {
		return err
	}
	if math.Abs(float64(s)-1.0/256) > tolerance || z != -128 {
		return fmt.Errorf("int8 output quantization %v/%d, want scale 1/256 and zero point -128", s, z)
	}
	return nil
}

// lutInt8 maps each int8 value through a 256-entry table.
type lutInt8 struct {
	unary
	table [256]int8
}

func (k *lutInt8) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	for i, v := range x {
		y[i] = k.table[uint8(v)]
	}
	return nil
}

// floatMap applies a float32 function element-wise.
type floatMap struct {
	unary
	f func(float32) float32
}

func (k *floatMap) Eval(bufs [][]byte) error {
	x, err := f32buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	for i, v := range x {
		y[i] = k.f(v)
	}
	return nil
}

func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// logisticFloat is reference_ops::Logistic for float32, with its cutoffs.
func logisticFloat(v float32) float32 {
	const upper, lower = 16.619047164916992188, -9
	switch {
	case v > upper:
		return 1
	case v < lower:
		return expf(v)
	}
	return 1 / (1 + expf(-v))
}

// newLogistic: TFLite's int8 LOGISTIC (reference and generic kernels alike)
// evaluates a 256-entry table built in float32 at Prepare time
// (LUTPopulate / PopulateLookupTable), so that is what this does.
func newLogistic(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	u, in, out, err := newUnary(m, o)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		return &floatMap{unary: u, f: logisticFloat}, nil
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		if err := requireProbabilityOutput(out, 0); err != nil {
			return nil, err
		}
		inS, inZ, err := quantParams(in, "input")
		if err != nil {
			return nil, err
		}
		k := &lutInt8{unary: u}
		outS, outZ := out.Quant.Scale[0], int32(out.Quant.ZeroPoint[0])
		inverse := 1 / outS
		for v := int32(math.MinInt8); v <= math.MaxInt8; v++ {
			deq := inS * float32(v-inZ)
			tr := 1 / (1 + expf(-deq))
			q := int32(roundHalfAway32(tr*inverse) + float32(outZ))
			k.table[uint8(int8(v))] = int8(min(max(q, math.MinInt8), math.MaxInt8))
		}
		return k, nil
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

// hardSwishInt8 is reference_ops::HardSwish with HardSwishParams as
// activations.cc HardSwishPrepare computes them.
type hardSwishInt8 struct {
	unary
	zpIn, zpOut     int16
	reluishMult     int16
	reluishExponent int
	outputMult      int16
	outputExponent  int
}

func hardSwishFloat(v float32) float32 { return v * min(6, max(0, v+3)) / 6 }

func newHardSwish(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	u, in, out, err := newUnary(m, o)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		return &floatMap{unary: u, f: hardSwishFloat}, nil
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		k := &hardSwishInt8{unary: u, zpIn: int16(inZ), zpOut: int16(outZ)}
		// All in float32, as HardSwishPrepare.
		hiresInputScale := (1.0 / 128.0) * inS
		const reluishScale = float32(3.0 / 32768.0)
		outputMultiplier := hiresInputScale / outS
		q, e := QuantizeMultiplier(float64(outputMultiplier))
		k.outputMult, k.outputExponent = downScaleInt32ToInt16Multiplier(q), e
		if e > 0 {
			return nil, fmt.Errorf("output multiplier %v needs a left shift (input scale %v, output scale %v)", outputMultiplier, inS, outS)
		}
		q, e = QuantizeMultiplier(float64(hiresInputScale / reluishScale))
		k.reluishMult, k.reluishExponent = downScaleInt32ToInt16Multiplier(q), e
		return k, nil
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

// downScaleInt32ToInt16Multiplier rounds a Q0.31 multiplier to Q0.15.
func downScaleInt32ToInt16Multiplier(m int32) int16 {
	const roundingOffset = 1 << 15
	if m >= math.MaxInt32-roundingOffset {
		return math.MaxInt16
	}
	return int16((m + roundingOffset) >> 16)
}

func (k *hardSwishInt8) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	for i, v := range x {
		inputValue := int16(v) - k.zpIn
		hires := inputValue * (1 << 7)
		preshift := srdhm16(hires, k.outputMult)
		reluish := hires
		if k.reluishExponent > 0 {
			reluish = saturatingLeftShift16(reluish, k.reluishExponent-1)
		}
		reluish = srdhm16(reluish, k.reluishMult)
		if k.reluishExponent > 0 {
			reluish = saturatingLeftShift16(reluish, 1)
		}
		if k.reluishExponent < 0 {
			reluish = roundingDivideByPOT16(reluish, -k.reluishExponent)
		}
		reluish = int16((int32(reluish) + (1 << 15)) >> 1)
		out := roundingDivideByPOT16(sdhm16(reluish, preshift), -k.outputExponent)
		out += k.zpOut
		y[i] = int8(min(max(out, math.MinInt8), math.MaxInt8))
	}
	return nil
}

// softmaxInt8 is reference_ops::Softmax for int8 input and output, which is
// what TFLite's reference SOFTMAX kernel runs (gemmlowp fixed-point exp,
// input scaled by PreprocessSoftmaxScaling). The optimized kernel uses a
// float table instead and may differ by a quantum.
type softmaxInt8 struct {
	unary
	depth     int
	mult      int32
	leftShift int
	diffMin   int32
	exps      []int32
}

type softmaxFloat struct {
	unary
	depth int
	beta  float32
}

func newSoftmax(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	opts, ok := o.Options.(*tflite.SoftmaxOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *SoftmaxOptions", o.Options)
	}
	u, in, out, err := newUnary(m, o)
	if err != nil {
		return nil, err
	}
	if len(in.Shape) == 0 {
		return nil, errors.New("input must have at least one dimension")
	}
	depth := int(in.Shape[len(in.Shape)-1])
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		return &softmaxFloat{unary: u, depth: depth, beta: opts.Beta}, nil
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		if err := requireProbabilityOutput(out, 0.001/256); err != nil {
			return nil, err
		}
		inS, _, err := quantParams(in, "input")
		if err != nil {
			return nil, err
		}
		const scaledDiffIntegerBits = 5
		real := math.Min(float64(opts.Beta)*float64(inS)*(1<<(31-scaledDiffIntegerBits)), (1<<31)-1.0)
		if !(real > 1) {
			return nil, fmt.Errorf("beta %v times input scale %v is too small for the fixed-point softmax", opts.Beta, inS)
		}
		q, shift := QuantizeMultiplier(real)
		if shift < 0 {
			return nil, fmt.Errorf("softmax input multiplier %v gives a right shift", real)
		}
		return &softmaxInt8{unary: u, depth: depth, mult: q, leftShift: shift,
			diffMin: -calculateInputRadius(scaledDiffIntegerBits, shift, 31), exps: make([]int32, depth)}, nil
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

func (k *softmaxInt8) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	const scaledDiffIntegerBits, accumulationIntegerBits = 5, 12
	if k.depth == 0 {
		return nil
	}
	for base := 0; base+k.depth <= k.n; base += k.depth {
		row, out := x[base:base+k.depth], y[base:base+k.depth]
		maxIn := int32(math.MinInt8)
		for _, v := range row {
			maxIn = max(maxIn, int32(v))
		}
		var sum int32 // accumulationIntegerBits integer bits
		for c, v := range row {
			diff := int32(v) - maxIn
			k.exps[c] = -1
			if diff >= k.diffMin {
				scaled := SaturatingRoundingDoublingHighMul(diff*(1<<k.leftShift), k.mult)
				e := expOnNegativeValues(scaled, scaledDiffIntegerBits)
				k.exps[c] = e
				sum += saturatingRoundingMultiplyByPOT(e, -accumulationIntegerBits)
			}
		}
		recip, bitsOverUnit := getReciprocal(sum, accumulationIntegerBits)
		exponent := bitsOverUnit + 31 - 8
		if exponent < 0 || exponent > 31 {
			return fmt.Errorf("softmax: reciprocal exponent %d out of range", exponent)
		}
		for c := range row {
			if k.exps[c] < 0 {
				out[c] = math.MinInt8
				continue
			}
			v := RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(recip, k.exps[c]), exponent) + math.MinInt8
			out[c] = int8(min(max(v, math.MinInt8), math.MaxInt8))
		}
	}
	return nil
}

func (k *softmaxFloat) Eval(bufs [][]byte) error {
	x, err := f32buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	if k.depth == 0 {
		return nil
	}
	for base := 0; base+k.depth <= k.n; base += k.depth {
		row, out := x[base:base+k.depth], y[base:base+k.depth]
		mx := float32(math.Inf(-1))
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float32
		for c, v := range row {
			e := expf((v - mx) * k.beta)
			out[c] = e
			sum += e
		}
		for c := range out {
			out[c] /= sum
		}
	}
	return nil
}
