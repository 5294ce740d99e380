package ref_test

import (
	"testing"

	"edgenas/internal/refdata"
	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// bmpPixels returns the 96x96 8-bit BMP's pixels in top-down row order, each
// byte reinterpreted as int8, which is what person_detect.tflite takes.
func bmpPixels(tb testing.TB, path string) []byte {
	tb.Helper()
	px, err := runtimetest.ReadGrayBMP(path, 96, 96)
	if err != nil {
		tb.Fatal(err)
	}
	return px
}

func readPersonDetect(tb testing.TB) *tflite.Model {
	tb.Helper()
	m, err := tflite.ReadFile(refdata.Path(tb, "person_detect.tflite"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func loadPersonDetect(tb testing.TB) runtime.Interpreter {
	tb.Helper()
	it, err := ref.Backend{}.Load(readPersonDetect(tb), runtime.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { it.Close() })
	return it
}

// TestPersonDetect runs Google's person_detect.tflite on its two test
// images. Arm NN's CpuRef reports [-115, 115] and [62, -62]; it requantizes
// through float, not TFLite's fixed-point multipliers, so its rounding
// differs and the differences compound over 28 layers. TFLite Micro, whose
// int8 kernels are these same reference kernels, is publicly reported to
// give 113 for person.bmp, which this backend reproduces exactly. So:
// person.bmp must give exactly [-113, 113]; both images must be classified
// correctly and lie within 6 quanta of Arm NN's scores; and
// TestPersonDetectPerOp checks every operator against float math.
func TestPersonDetect(t *testing.T) {
	it := loadPersonDetect(t)
	cases := []struct {
		image string
		armnn [2]int8 // [no person, person]
		class int
		exact *[2]int8
	}{
		{"person.bmp", [2]int8{-115, 115}, 1, &[2]int8{-113, 113}},
		{"no_person.bmp", [2]int8{62, -62}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			if err := it.SetInput(0, bmpPixels(t, refdata.Path(t, c.image))); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
			out := it.Output(0)
			if len(out) != 2 {
				t.Fatalf("output has %d bytes, want 2", len(out))
			}
			got := [2]int8{int8(out[0]), int8(out[1])}
			t.Logf("%s: scores %v (Arm NN %v)", c.image, got, c.armnn)
			if got[c.class] <= got[1-c.class] {
				t.Errorf("scores %v: class %d should win", got, c.class)
			}
			if c.exact != nil && got != *c.exact {
				t.Errorf("scores %v, want %v", got, *c.exact)
			}
			for i := range got {
				if d := int(got[i]) - int(c.armnn[i]); d < -6 || d > 6 {
					t.Errorf("score %d = %d, want %d ± 6", i, got[i], c.armnn[i])
				}
			}
		})
	}
	prof := it.Profile()
	if len(prof) != 31 {
		t.Errorf("profile has %d nodes, want 31 operators", len(prof))
	}
	for i, p := range prof {
		if p.Backend != "ref" || p.Count != 2 || len(p.Ops) != 1 || p.Ops[0] != i || p.Name != readPersonDetect(t).Operators[i].Op.String() {
			t.Errorf("profile node %d = %+v", i, p)
		}
	}
}

// TestPersonDetectPerOp holds every operator of the real model to its
// correctly rounded result: given the int8 inputs the interpreter fed it,
// each output is within half a quantum (plus the fixed-point multiplier's
// error) of exact arithmetic.
func TestPersonDetectPerOp(t *testing.T) {
	m := readPersonDetect(t)
	for _, image := range []string{"person.bmp", "no_person.bmp"} {
		errs, err := runtimetest.ComparePerOp(ref.Backend{}, m, [][]byte{bmpPixels(t, refdata.Path(t, image))})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			if e.MaxQuanta > 0.52 {
				t.Errorf("%s: operator %d %s: %v", image, e.Op, e.Name, e.TensorError)
			}
		}
	}
}

func BenchmarkPersonDetect(b *testing.B) {
	it := loadPersonDetect(b)
	if err := it.SetInput(0, bmpPixels(b, refdata.Path(b, "person.bmp"))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMobileNetV2PerOp runs a real int8 MobileNetV2 written by another
// converter (TinyNeuralNetwork: NCHW input and TRANSPOSE, PAD, ADD, MEAN,
// FULLY_CONNECTED) and holds every operator to its correctly rounded result.
func TestMobileNetV2PerOp(t *testing.T) {
	if testing.Short() {
		t.Skip("full 224x224 model")
	}
	m, err := tflite.ReadFile(refdata.Path(t, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	errs, err := runtimetest.ComparePerOp(ref.Backend{}, m, runtimetest.RandomInputs(m, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		// Half a quantum of rounding plus the 31-bit multipliers' and
		// MEAN's second rounding.
		if e.MaxQuanta > 0.6 {
			t.Errorf("operator %d %s: %v", e.Op, e.Name, e.TensorError)
		}
	}
}
