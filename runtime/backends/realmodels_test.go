package backends

import (
	"math/rand/v2"
	"testing"
	"time"

	"edgenas/internal/refdata"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime/runtimetest"
	"edgenas/space"
	"edgenas/tflite"
)

// Models written by other converters (TFLite's MLIR converter, TinyNeuralNetwork)
// run on both backends and agree.
func TestRealModelsBothBackends(t *testing.T) {
	cases := []struct {
		file   string
		inputs int
	}{
		{"hello_world_int8.tflite", 20},
		{"micro_speech_quantized.tflite", 30},
		{"mobilenet_v2_quantized_1x3x224x224.tflite", 4},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			m, err := tflite.ReadFile(refdata.Path(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			x, r := load(t, "xnnpack", m), load(t, "ref", m)
			var agg agreement
			var tx, tr time.Duration
			for k := 0; k < tc.inputs; k++ {
				in := naturalInput(t, m, k)
				if err := x.SetInput(0, in); err != nil {
					t.Fatal(err)
				}
				if err := r.SetInput(0, in); err != nil {
					t.Fatal(err)
				}
				t0 := time.Now()
				if err := x.Invoke(); err != nil {
					t.Fatal(err)
				}
				tx += time.Since(t0)
				t0 = time.Now()
				if err := r.Invoke(); err != nil {
					t.Fatal(err)
				}
				tr += time.Since(t0)
				agg.add(x.Output(0), r.Output(0))
			}
			t.Logf("%s: %s; mean invoke xnnpack %v, ref %v (includes first-run costs; see BenchmarkRealModels)",
				tc.file, &agg, tx/time.Duration(tc.inputs), tr/time.Duration(tc.inputs))
			// Per operator the backends agree to a quantum (checked below); over
			// MobileNetV2's 52 layers those differences compound to ~15 quanta
			// on the logits, enough to swap close classes, so top-1 is required
			// only to stand in the other backend's top 5.
			if agg.top1InTop5 != agg.inputs {
				t.Errorf("backends disagree beyond close classes: %s", &agg)
			}
			var d opDiff
			for k := 0; k < 2; k++ {
				d.add(t, m, naturalInput(t, m, k))
			}
			d.check(t, tc.file)
		})
	}
}

// naturalInput returns input k for m: for the 224x224 RGB MobileNetV2, a real
// photograph (the person/no-person test images, upscaled, ImageNet-normalised,
// and mirrored for odd k), because uniform noise gives near-tied logits whose
// top-1 flips on any rounding difference; for other models seeded random bytes.
func naturalInput(t *testing.T, m *tflite.Model, k int) []byte {
	in := m.Input(0)
	if len(in.Shape) != 4 || in.Shape[1] != 3 || in.Shape[2] != 224 {
		b := make([]byte, in.Bytes())
		rng := rand.New(rand.NewPCG(uint64(k), 3))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	name := []string{"person.bmp", "no_person.bmp"}[k%2]
	gray, err := runtimetest.ReadGrayBMP(refdata.Path(t, name), 96, 96)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runtimetest.ImageNetInput(in, gray, 96, k/2%2 == 1)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkRealModels times MobileNetV2 (224x224 int8) on each backend.
func BenchmarkRealModels(b *testing.B) {
	m, err := tflite.ReadFile(refdata.Path(b, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range Available() {
		b.Run("mobilenet_v2/"+name, func(b *testing.B) {
			it := load(b, name, m)
			if err := profiler.FillRandomInputs(it, 1); err != nil {
				b.Fatal(err)
			}
			var macs int64
			for i := range m.Operators {
				macs += tflite.OpMACs(m, i)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := it.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkSpaceModel times one spnas-imagenet architecture (random weights,
// seed 1) on each backend: the xnnpack-vs-ref speed ratio and GMAC/s.
func BenchmarkSpaceModel(b *testing.B) {
	a := space.MustLookup("spnas-imagenet").RandomSeed(1)
	m, err := quantize.ArchModel(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range Available() {
		b.Run("spnas-imagenet/"+name, func(b *testing.B) {
			it := load(b, name, m)
			if err := profiler.FillRandomInputs(it, 1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := it.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(a.MACs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkInvokeOverhead is each backend's fixed per-invoke cost: a model
// with one 1x1 convolution on a 1x1x8 tensor.
func BenchmarkInvokeOverhead(b *testing.B) {
	l := space.Layer{Kind: space.KindConv, InH: 1, InW: 1, InC: 8, OutH: 1, OutW: 1, OutC: 8, Kernel: 1, Stride: 1, Act: "relu6", Slot: -1}
	m, err := quantize.LayerModel(l, 1)
	if err != nil {
		b.Fatal(err)
	}
	if len(m.Operators) != 1 {
		b.Fatalf("overhead model has %d operators, want 1", len(m.Operators))
	}
	for _, name := range Available() {
		b.Run(name, func(b *testing.B) {
			it := load(b, name, m)
			if err := profiler.FillRandomInputs(it, 1); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := it.Invoke(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
