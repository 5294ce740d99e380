package xnnpack

import (
	"math"
	"strings"
	"testing"

	"edgenas/tflite"
)

// TestActivationRange checks the clamp handed to XNNPACK lands, after
// XNNPACK's own quantization (round(bound/scale)+zp), on the integers
// TFLite's CalculateActivationRangeQuantized gives.
func TestActivationRange(t *testing.T) {
	cases := []struct {
		act        tflite.Activation
		scale      float32
		zp         int32
		qmin, qmax int32 // TFLite's quantized bounds
		ok         bool
	}{
		{tflite.ActNone, 0.1, 3, -128, 127, true},
		{tflite.ActRelu, 0.1, 3, 3, 127, true},
		{tflite.ActRelu, 0.1, -128, -128, 127, true},
		{tflite.ActRelu6, 0.05, -10, -10, 110, true},
		{tflite.ActRelu6, 0.01, 0, 0, 127, true},            // 6/0.01 = 600 saturates
		{tflite.ActRelu6, 6.0 / 255, -128, -128, 127, true}, // the usual RELU6 output
		{tflite.ActReluN1To1, 0.01, 0, -100, 100, true},
		{tflite.ActReluN1To1, 0.1, 120, 110, 127, true},
		{tflite.ActRelu6, 0.1, 127, 0, 0, false}, // empty range: zero point at the top
		{tflite.ActTanh, 0.1, 0, 0, 0, false},
	}
	for _, c := range cases {
		lo, hi, err := activationRange(c.act, c.scale, c.zp)
		if (err == nil) != c.ok {
			t.Errorf("%v scale %g zp %d: error %v, want ok=%v", c.act, c.scale, c.zp, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		q := func(f float32) int32 { return c.zp + int32(math.RoundToEven(float64(f/c.scale))) }
		if q(lo) != c.qmin || q(hi) != c.qmax {
			t.Errorf("%v scale %g zp %d: range [%g, %g] quantizes to [%d, %d], want [%d, %d]", c.act, c.scale, c.zp, lo, hi, q(lo), q(hi), c.qmin, c.qmax)
		}
	}
}

func TestQuantChecks(t *testing.T) {
	q := func(scales []float32, zps ...int64) *tflite.Quantization {
		return &tflite.Quantization{Scale: scales, ZeroPoint: zps}
	}
	i8 := func(shape []int32, qu *tflite.Quantization) *tflite.Tensor {
		return &tflite.Tensor{Name: "t", Type: tflite.Int8, Shape: shape, Quant: qu}
	}
	per := []struct {
		name  string
		t     *tflite.Tensor
		error string
	}{
		{"ok", i8([]int32{4}, q([]float32{0.1}, -3)), ""},
		{"int32", &tflite.Tensor{Name: "t", Type: tflite.Int32, Quant: q([]float32{0.1}, 0)}, "want int8"},
		{"unquantized", i8([]int32{4}, nil), "per-tensor"},
		{"per-channel", i8([]int32{2}, q([]float32{0.1, 0.2}, 0, 0)), "per-tensor"},
		{"negative scale", i8([]int32{4}, q([]float32{-1}, 0)), "positive normal"},
		{"NaN scale", i8([]int32{4}, q([]float32{float32(math.NaN())}, 0)), "positive normal"},
		{"denormal scale", i8([]int32{4}, q([]float32{1e-40}, 0)), "positive normal"},
		{"zero point 128", i8([]int32{4}, q([]float32{0.1}, 128)), "outside int8"},
	}
	for _, c := range per {
		_, _, err := perTensorInt8(c.t)
		if c.error == "" && err != nil || c.error != "" && (err == nil || !strings.Contains(err.Error(), c.error)) {
			t.Errorf("perTensorInt8 %s: %v, want %q", c.name, err, c.error)
		}
	}
	chw := []struct {
		name  string
		t     *tflite.Tensor
		dim   int
		want  bool
		error string
	}{
		{"per-tensor", i8([]int32{3, 1, 1, 2}, q([]float32{0.1}, 0)), 0, false, ""},
		{"axis 0", i8([]int32{3, 1, 1, 2}, q([]float32{0.1, 0.2, 0.3}, 0, 0, 0)), 0, true, ""},
		{"axis 3", i8([]int32{1, 3, 3, 2}, q([]float32{0.1, 0.2}, 0, 0)), 3, true, ""},
		{"count mismatch", i8([]int32{3, 1, 1, 2}, q([]float32{0.1, 0.2}, 0, 0)), 0, false, "do not match"},
		{"non-zero zero point", i8([]int32{2, 1}, q([]float32{0.1, 0.2}, 0, 5)), 0, false, "needs 0"},
		{"bad channel scale", i8([]int32{2, 1}, q([]float32{0.1, 0}, 0, 0)), 0, false, "channel 1 scale"},
		{"unquantized", i8([]int32{2, 1}, nil), 0, false, "not quantized"},
	}
	for _, c := range chw {
		got, err := channelwise(c.t, c.dim)
		if got != c.want || c.error == "" && err != nil || c.error != "" && (err == nil || !strings.Contains(err.Error(), c.error)) {
			t.Errorf("channelwise %s: %v, %v; want %v, %q", c.name, got, err, c.want, c.error)
		}
	}
	a, b := i8([]int32{4}, q([]float32{0.1}, 3)), i8([]int32{4}, q([]float32{0.1}, 3))
	if err := sameQuant(a, b); err != nil {
		t.Errorf("sameQuant of equal tensors: %v", err)
	}
	b.Quant.ZeroPoint[0] = 4
	if err := sameQuant(a, b); err == nil {
		t.Error("sameQuant accepted different zero points")
	}
}
