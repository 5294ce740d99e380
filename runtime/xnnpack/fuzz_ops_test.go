//go:build cgo

package xnnpack

import (
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// FuzzVisionKernels builds models of the vision and audio operators from
// fuzz bytes (see runtimetest.FuzzModel) and loads and runs them on this
// backend: the translations must refuse what XNNPACK would read or write
// out of bounds, never crash. When ref runs the model too, the outputs
// must agree: exactly for operators that only move values, within one
// quantum otherwise, two for RESIZE_BILINEAR (see AGREEMENT.md).
func FuzzVisionKernels(f *testing.F) {
	runtimetest.FuzzModelSeeds(func(op byte, dims, ints []byte, opts uint32) { f.Add(op, dims, ints, opts) })
	f.Fuzz(func(t *testing.T, op byte, dims, ints []byte, opts uint32) {
		m := runtimetest.FuzzModel(op, dims, ints, opts)
		if err := runtimetest.RunFuzzModel(Backend{}, m); err != nil {
			t.Fatal(err)
		}
		if m.Validate() != nil || len(m.Operators) != 1 || m.Output(0).Type != tflite.Int8 {
			return
		}
		x, err := Backend{}.Load(m, runtime.Options{})
		if err != nil {
			return
		}
		x.Close()
		r, err := ref.Backend{}.Load(m, runtime.Options{})
		if err != nil {
			t.Fatalf("xnnpack runs what ref refuses: %v", err)
		}
		r.Close()
		in := runtimetest.RandomInputs(m, uint64(opts))
		got, want := runBackend(t, Backend{}, m, 1, in), runBackend(t, ref.Backend{}, m, 1, in)
		allowed := 1
		switch m.Operators[0].Op {
		case tflite.OpResizeBilinear:
			// ref positions samples in 10-bit fixed point, XNNPACK in 11-bit:
			// on full-range random images the interpolations drift apart by
			// up to a quantum before each rounds to the output grid.
			allowed = 2
		case tflite.OpMaxPool2D, tflite.OpConcatenation, tflite.OpSqueeze, tflite.OpStridedSlice,
			tflite.OpResizeNearestNeighbor, tflite.OpMaximum, tflite.OpMinimum:
			allowed = 0
		}
		if d := maxInt8Diff(got[0], want[0]); d > allowed {
			t.Fatalf("%v: xnnpack differs from ref by %d quanta (allowed %d)", m.Operators[0].Op, d, allowed)
		}
	})
}
