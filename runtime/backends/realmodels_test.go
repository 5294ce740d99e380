package backends

import (
	"testing"
	"time"

	"edgenas/internal/refdata"
	"edgenas/profiler"
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
		{"mobilenet_v2_quantized_1x3x224x224.tflite", 2},
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
				if err := profiler.FillRandomInputs(x, uint64(k)); err != nil {
					t.Fatal(err)
				}
				if err := profiler.FillRandomInputs(r, uint64(k)); err != nil {
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
			if agg.top1Same != agg.inputs {
				t.Errorf("top-1 differs between backends: %s", &agg)
			}
		})
	}
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
