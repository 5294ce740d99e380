package quantize

import (
	"fmt"
	"math"
)

// Range is the float range [Min, Max] an activation tensor takes.
type Range struct {
	Min, Max float32
}

// Int8 range of activations and of symmetric weights (TFLite's int8 spec
// keeps -128 out of weights so that a product never overflows int16 sums).
const (
	qmin, qmax = -128, 127
	wmax       = 127
)

// ActivationParams returns TFLite's int8 per-tensor parameters for an
// activation range, as tools/optimize/quantization_utils.cc
// GetAsymmetricQuantizationParams computes them (in float32): the range is
// widened to include 0, scale = (max-min)/255, and the zero point
// qmin - min/scale is rounded and clamped to [-128, 127], which nudges the
// range so that 0 is exactly representable. A degenerate range (max == min
// after widening, a tensor that is always 0) gets the range [0, 1] so that
// the scale stays positive, as runtimes require.
func ActivationParams(r Range) (scale float32, zeroPoint int64, err error) {
	lo, hi := r.Min, r.Max
	if isBad(lo) || isBad(hi) || lo > hi {
		return 0, 0, fmt.Errorf("bad activation range [%v, %v]", lo, hi)
	}
	lo = min(lo, 0)
	hi = max(hi, 0)
	if hi == lo {
		hi = lo + 1
	}
	scale = (hi - lo) / float32(qmax-qmin)
	if scale == 0 || isBad(scale) {
		return 0, 0, fmt.Errorf("activation range [%v, %v] gives scale %v", r.Min, r.Max, scale)
	}
	zpFromMin := float32(qmin) - lo/scale
	switch {
	case zpFromMin < qmin:
		zeroPoint = qmin
	case zpFromMin > qmax:
		zeroPoint = qmax
	default:
		zeroPoint = int64(math.Round(float64(zpFromMin)))
	}
	return scale, zeroPoint, nil
}

func isBad(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }

// quantizeSymmetric quantizes weights to int8 with zero point 0 and one
// scale per channel: channelOf(i) says which channel value i belongs to
// (pass nChannels 1 and a constant 0 for per-tensor). scale_c =
// max|w_c|/127, q = round(w/scale_c) in [-127, 127]. An all-zero channel
// gets scale 1 (any scale represents it; a zero scale would not be valid).
func quantizeSymmetric(w []float32, nChannels int, channelOf func(i int) int) (q []int8, scales []float32) {
	absMax := make([]float32, nChannels)
	for i, v := range w {
		c := channelOf(i)
		absMax[c] = max(absMax[c], float32(math.Abs(float64(v))))
	}
	scales = make([]float32, nChannels)
	for c, m := range absMax {
		scales[c] = m / wmax
		if scales[c] == 0 {
			scales[c] = 1
		}
	}
	q = make([]int8, len(w))
	for i, v := range w {
		x := math.Round(float64(v / scales[channelOf(i)]))
		q[i] = int8(max(-wmax, min(wmax, x)))
	}
	return q, scales
}

// quantizeBias quantizes biases to int32 with scale inScale*wScale[c] and
// zero point 0; a value that does not fit int32 is an error naming the
// channel (the weights' scale is then far too small for the bias).
func quantizeBias(b []float32, inScale float32, wScales []float32) ([]int32, []float32, error) {
	q := make([]int32, len(b))
	scales := make([]float32, len(b))
	for c, v := range b {
		ws := wScales[0]
		if len(wScales) > 1 {
			ws = wScales[c]
		}
		s := inScale * ws
		scales[c] = s
		if s == 0 {
			return nil, nil, fmt.Errorf("bias %d: zero scale (input scale %v, weight scale %v)", c, inScale, ws)
		}
		x := math.Round(float64(v) / float64(s))
		if x > math.MaxInt32 || x < math.MinInt32 {
			return nil, nil, fmt.Errorf("bias %d = %v overflows int32 at scale %v", c, v, s)
		}
		q[c] = int32(x)
	}
	return q, scales, nil
}

// Dequantize converts int8 values to float with one scale and zero point.
func Dequantize(q []int8, scale float32, zeroPoint int64) []float32 {
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = scale * float32(int64(v)-zeroPoint)
	}
	return out
}

// QuantizeValues converts floats to int8 with one scale and zero point,
// rounding half away from zero and saturating, as TFLite's QUANTIZE does.
func QuantizeValues(x []float32, scale float32, zeroPoint int64) []int8 {
	out := make([]int8, len(x))
	for i, v := range x {
		r := math.Round(float64(v/scale)) + float64(zeroPoint)
		out[i] = int8(max(qmin, min(qmax, r)))
	}
	return out
}
