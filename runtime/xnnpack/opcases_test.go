//go:build cgo

package xnnpack

import (
	"strings"
	"testing"

	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// TestOpCasesAgainstRef runs every vision/audio operator case on this
// backend and on ref with the same inputs. Operators that only move values
// must agree byte for byte wherever they run. Arithmetic ones on XNNPACK
// may differ by one quantum: XNNPACK's int8 subtract and deconvolution
// requantize with one fp32 or single-rounding multiplier where TFLite's
// reference kernels round twice (see runtime/backends/AGREEMENT.md), and
// its bilinear resize interpolates in 11-bit instead of 10-bit fixed point.
// When the library refuses an operator, it runs on ref and agrees exactly,
// except int8 MEAN and per-channel TRANSPOSE_CONV, which then run the
// delegate's arithmetic instead (one quantum).
func TestOpCasesAgainstRef(t *testing.T) {
	placed := map[tflite.Opcode]string{}
	worst := map[tflite.Opcode]int{}
	for _, c := range runtimetest.OpCases(1) {
		t.Run(c.Name, func(t *testing.T) {
			plan, err := Backend{}.Plan(c.Model)
			if err != nil {
				t.Fatal(err)
			}
			where := plan[0].Backend
			place := where
			if where == backendRef {
				place += " (" + plan[0].Reason + ")"
			}
			if !strings.Contains(placed[c.Op], place) {
				placed[c.Op] = strings.TrimPrefix(placed[c.Op]+"; "+place, "; ")
			}
			allowed := 0
			// An int8 MEAN or TRANSPOSE_CONV off XNNPACK runs the delegate's
			// arithmetic (mean.go, deconv.go), not ref's, so it keeps
			// XNNPACK's allowance.
			if !c.Exact && (where == backendXNNPACK || c.Op == tflite.OpMean || c.Op == tflite.OpTransposeConv) {
				allowed = 1
			}
			for seed := range uint64(3) {
				in := runtimetest.RandomInputs(c.Model, seed)
				got := runBackend(t, Backend{}, c.Model, 1, in)
				want := runBackend(t, ref.Backend{}, c.Model, 1, in)
				for i := range got {
					d := maxInt8Diff(got[i], want[i])
					worst[c.Op] = max(worst[c.Op], d)
					if d > allowed {
						t.Errorf("input seed %d on %s: output %d differs from ref by %d quanta, allowed %d", seed, where, i, d, allowed)
					}
				}
			}
		})
	}
	for op, where := range placed {
		t.Logf("%v runs on %s; largest difference from ref %d quanta", op, where, worst[op])
	}
}

func maxInt8Diff(a, b []byte) int {
	if len(a) != len(b) {
		return 1 << 30
	}
	d := 0
	for i := range a {
		d = max(d, absInt(int(int8(a[i]))-int(int8(b[i]))))
	}
	return d
}
