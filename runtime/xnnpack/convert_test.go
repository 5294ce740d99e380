//go:build cgo

package xnnpack

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"edgenas/tflite"
)

// TestQuantizeDequantize runs QUANTIZE (float32 -> int8) and DEQUANTIZE
// (int8 -> float32), which XNNPACK takes as convert nodes, and checks them
// against the affine formulas: dequantized values exactly (in float32),
// quantized within one quantum (XNNPACK rounds ties to even, TFLite away
// from zero).
func TestQuantizeDequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const n = 1 * 4 * 4 * 8

	t.Run("QUANTIZE", func(t *testing.T) {
		m := probeConvert(tflite.OpQuantize, true, false)
		out := &m.Tensors[m.Outputs[0]]
		s, zp := float64(out.Quant.Scale[0]), float64(out.Quant.ZeroPoint[0])
		in := make([]byte, 4*n)
		want := make([]int8, n)
		for i := range n {
			f := float32(rng.Float64()*24 - 12) // beyond the int8 range on purpose
			binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(f))
			want[i] = int8(math.Max(-128, math.Min(127, math.Round(float64(f)/s)+zp)))
		}
		got := run(t, m, 1, [][]byte{in})[0]
		for i := range n {
			if d := absInt(int(int8(got[i])) - int(want[i])); d > 1 {
				t.Fatalf("element %d: %d, want %d", i, int8(got[i]), want[i])
			}
		}
	})
	t.Run("DEQUANTIZE", func(t *testing.T) {
		m := probeConvert(tflite.OpDequantize, false, true)
		x := &m.Tensors[m.Inputs[0]]
		s, zp := x.Quant.Scale[0], int32(x.Quant.ZeroPoint[0])
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(rng.IntN(256))
		}
		got := run(t, m, 1, [][]byte{in})[0]
		for i := range n {
			want := s * float32(int32(int8(in[i]))-zp)
			if g := math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:])); math.Abs(float64(g-want)) > 1e-6*math.Abs(float64(want)) {
				t.Fatalf("element %d (%d): %g, want %g", i, int8(in[i]), g, want)
			}
		}
	})
}
