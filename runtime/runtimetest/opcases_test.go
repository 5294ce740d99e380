package runtimetest_test

import (
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// TestOpCasesRefVsFloat runs every operator case on the reference backend
// and checks its int8 result against the float reference within TFLite's
// rounding (exactly for operators that only move values). Each case also
// writes and reads back.
func TestOpCasesRefVsFloat(t *testing.T) {
	seen := map[tflite.Opcode]bool{}
	for _, c := range runtimetest.OpCases(1) {
		seen[c.Op] = true
		t.Run(c.Name, func(t *testing.T) {
			data, err := tflite.Write(c.Model)
			if err != nil {
				t.Fatal(err)
			}
			m, err := tflite.Read(data)
			if err != nil {
				t.Fatal(err)
			}
			it, err := ref.Backend{}.Load(m, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for seed := range uint64(3) {
				errs, err := runtimetest.Compare(it, runtimetest.RandomInputs(m, seed))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range errs {
					if e.MaxQuanta > c.MaxQuanta {
						t.Errorf("input seed %d: %v, allowed %.1f", seed, e, c.MaxQuanta)
					}
				}
			}
		})
	}
	for _, op := range []tflite.Opcode{tflite.OpMaxPool2D, tflite.OpConcatenation, tflite.OpSqueeze, tflite.OpStridedSlice,
		tflite.OpResizeNearestNeighbor, tflite.OpResizeBilinear, tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum, tflite.OpTransposeConv} {
		if !seen[op] {
			t.Errorf("no case for %v", op)
		}
	}
}

// FuzzOpModels feeds mutations of the operator cases' files to the reader
// and the reference kernels: whatever reads and loads must run without a
// panic.
func FuzzOpModels(f *testing.F) {
	for _, c := range runtimetest.OpCases(1) {
		data, err := tflite.Write(c.Model)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tflite.Read(data)
		if err != nil {
			return
		}
		total := 0
		for i := range m.Tensors {
			total += m.Tensors[i].Bytes()
		}
		if total > 1<<22 {
			return // a fuzzed shape can ask for any arena size
		}
		it, err := ref.Backend{}.Load(m, runtime.Options{})
		if err != nil {
			return
		}
		defer it.Close()
		for i, in := range runtimetest.RandomInputs(m, 1) {
			if err := it.SetInput(i, in); err != nil {
				t.Fatal(err)
			}
		}
		_ = it.Invoke() // errors are fine; panics are not
	})
}

func TestWriteOpCaseFiles(t *testing.T) {
	dir := t.TempDir()
	paths, err := runtimetest.WriteOpCaseFiles(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	cases := runtimetest.OpCases(1)
	if len(paths) != len(cases) {
		t.Fatalf("%d files for %d cases", len(paths), len(cases))
	}
	for i, p := range paths {
		m, err := tflite.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Operators[0].Op != cases[i].Op {
			t.Errorf("%s holds %v, want %v", p, m.Operators[0].Op, cases[i].Op)
		}
	}
}

// TestFuzzModelSeeds checks the consistent seed of every operator FuzzModel
// builds is a valid model ref runs, so each fuzz seed exercises its kernel
// rather than a refusal, and that the seeds cover every OpCases operator.
func TestFuzzModelSeeds(t *testing.T) {
	seeded := map[tflite.Opcode]bool{}
	runtimetest.FuzzModelSeeds(func(op byte, dims, ints []byte, opts uint32) {
		m := runtimetest.FuzzModel(op, dims, ints, opts)
		if opts>>31 == 1 {
			return // the unchecked form may well be refused
		}
		name := m.Operators[len(m.Operators)-1].Op
		if err := m.Validate(); err != nil {
			t.Errorf("%v seed: %v", name, err)
			return
		}
		it, err := ref.Backend{}.Load(m, runtime.Options{})
		if err != nil {
			t.Errorf("%v seed: %v", name, err)
			return
		}
		defer it.Close()
		if err := it.Invoke(); err != nil {
			t.Errorf("%v seed: %v", name, err)
		}
		seeded[name] = true
	})
	for _, c := range runtimetest.OpCases(1) {
		if !seeded[c.Op] {
			t.Errorf("no valid fuzz seed for %v", c.Op)
		}
	}
}
