package xnnpack

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

// Checks on tensor types and quantization that XNNPACK needs before a value
// can be defined. They mirror the XNNPACK delegate's own checks so that a
// tensor the library would misread (a per-channel activation, a non-zero
// per-channel zero point) is refused with a reason instead of silently
// computing garbage.

// perTensorInt8 returns t's scale and zero point when t is an int8 tensor
// with one scale and a zero point in the int8 range.
func perTensorInt8(t *tflite.Tensor) (float32, int32, error) {
	if t.Type != tflite.Int8 {
		return 0, 0, fmt.Errorf("tensor %q is %v, want int8", t.Name, t.Type)
	}
	q := t.Quant
	if q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 {
		return 0, 0, fmt.Errorf("tensor %q: want per-tensor quantization", t.Name)
	}
	if !validScale(q.Scale[0]) {
		return 0, 0, fmt.Errorf("tensor %q: scale %g is not a positive normal number", t.Name, q.Scale[0])
	}
	zp := q.ZeroPoint[0]
	if zp < math.MinInt8 || zp > math.MaxInt8 {
		return 0, 0, fmt.Errorf("tensor %q: zero point %d outside int8", t.Name, zp)
	}
	return q.Scale[0], int32(zp), nil
}

func validScale(s float32) bool {
	f := float64(s)
	return f > 0 && !math.IsInf(f, 0) && !math.IsNaN(f) && f >= math.SmallestNonzeroFloat32*(1<<23)
}

// channelwise reports whether t carries per-channel quantization along dim
// (len(Scale) == Shape[dim], all zero points 0), and checks it. One scale
// means per-tensor and returns false with no error.
func channelwise(t *tflite.Tensor, dim int) (bool, error) {
	q := t.Quant
	if q == nil || len(q.Scale) == 0 {
		return false, fmt.Errorf("tensor %q is not quantized", t.Name)
	}
	if len(q.Scale) == 1 {
		return false, nil
	}
	if dim >= len(t.Shape) || int(t.Shape[dim]) != len(q.Scale) {
		return false, fmt.Errorf("tensor %q: %d scales do not match dimension %d of shape %v", t.Name, len(q.Scale), dim, t.Shape)
	}
	for c, s := range q.Scale {
		if !validScale(s) {
			return false, fmt.Errorf("tensor %q: channel %d scale %g is not a positive normal number", t.Name, c, s)
		}
	}
	for c, zp := range q.ZeroPoint {
		if zp != 0 {
			return false, fmt.Errorf("tensor %q: channel %d zero point %d, per-channel needs 0", t.Name, c, zp)
		}
	}
	return true, nil
}

// sameQuant reports whether two int8 tensors share scale and zero point, as
// operators that only move bytes (reshape, pad, max pool) require.
func sameQuant(a, b *tflite.Tensor) error {
	sa, za, err := perTensorInt8(a)
	if err != nil {
		return err
	}
	sb, zb, err := perTensorInt8(b)
	if err != nil {
		return err
	}
	if sa != sb || za != zb {
		return fmt.Errorf("tensors %q and %q differ in quantization (%g,%d) vs (%g,%d)", a.Name, b.Name, sa, za, sb, zb)
	}
	return nil
}

// activationRange returns the float clamp bounds handed to XNNPACK for a
// fused activation on an int8 output of the given scale and zero point.
//
// TFLite clamps in the quantized domain (CalculateActivationRangeQuantized:
// q = zp + round(bound/scale), intersected with [-128, 127]) while XNNPACK
// takes float bounds and quantizes them itself with round-to-nearest-even.
// Passing the exact real values of TFLite's quantized bounds makes XNNPACK
// land on the same integers, so clamping agrees with TFLite bit for bit.
func activationRange(act tflite.Activation, scale float32, zp int32) (lo, hi float32, err error) {
	qmin, qmax, err := activationQRange(act, scale, zp)
	return float32(qmin-zp) * scale, float32(qmax-zp) * scale, err
}

// activationQRange is activationRange in quantized values: the int8 range
// a fused activation leaves.
func activationQRange(act tflite.Activation, scale float32, zp int32) (qmin, qmax int32, err error) {
	qmin, qmax = int32(math.MinInt8), int32(math.MaxInt8)
	quant := func(f float64) int32 { return zp + int32(math.Round(f/float64(scale))) }
	switch act {
	case tflite.ActNone:
	case tflite.ActRelu:
		qmin = max(qmin, quant(0))
	case tflite.ActRelu6:
		qmin = max(qmin, quant(0))
		qmax = min(qmax, quant(6))
	case tflite.ActReluN1To1:
		qmin = max(qmin, quant(-1))
		qmax = min(qmax, quant(1))
	default:
		return 0, 0, fmt.Errorf("fused activation %v not supported", act)
	}
	if qmin >= qmax {
		return 0, 0, fmt.Errorf("fused activation %v leaves an empty range [%d, %d]", act, qmin, qmax)
	}
	return qmin, qmax, nil
}
