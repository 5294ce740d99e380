package ref_test

import (
	"testing"

	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
)

// FuzzVisionKernels builds inconsistent models of the vision and audio
// operators and loads and runs them on ref: each must be refused with an
// error or run, never panic.
func FuzzVisionKernels(f *testing.F) {
	runtimetest.FuzzModelSeeds(func(op byte, dims, ints []byte, opts uint32) { f.Add(op, dims, ints, opts) })
	f.Fuzz(func(t *testing.T, op byte, dims, ints []byte, opts uint32) {
		if err := runtimetest.RunFuzzModel(ref.Backend{}, runtimetest.FuzzModel(op, dims, ints, opts)); err != nil {
			t.Fatal(err)
		}
	})
}
