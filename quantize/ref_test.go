package quantize

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/space"
	"edgenas/tflite"
)

// layerError compares a quantized tensor with its float counterpart.
type layerError struct {
	name      string
	relRMS    float64 // rms(error)/rms(float)
	rmsQuanta float64 // rms(error)/scale
}

func compareTensors(fm, qm *tflite.Model, fb, qb [][]byte) []layerError {
	var out []layerError
	for i := range fm.Tensors {
		ft, qt := &fm.Tensors[i], &qm.Tensors[i]
		if ft.IsConst() || qt.Type != tflite.Int8 || qt.Quant == nil {
			continue
		}
		f := Float32s(fb[i])
		d := Dequantize(int8s(qb[i]), qt.Quant.Scale[0], qt.Quant.ZeroPoint[0])
		var se, sf float64
		for j := range f {
			e := float64(d[j] - f[j])
			se += e * e
			sf += float64(f[j]) * float64(f[j])
		}
		rel := math.Sqrt(se / math.Max(sf, 1e-30))
		out = append(out, layerError{ft.Name, rel, math.Sqrt(se/float64(len(f))) / float64(qt.Quant.Scale[0])})
	}
	return out
}

// TestInt8MatchesFloat: on the calibration distribution, the int8 model's
// logits follow the float model's within a few output quanta and agree on
// top-1 for most inputs; per-layer errors are logged for the first model.
func TestInt8MatchesFloat(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	var agree, inputs int
	var worstQuanta float64
	for seed := uint64(0); seed < 5; seed++ {
		a := s.RandomSeed(seed)
		n, err := RandomNet(a.Layers(), seed)
		if err != nil {
			t.Fatal(err)
		}
		fm, err := n.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		samples := RandomInputs(fm, 8, seed, Range{-1, 1})
		ranges, err := Calibrate(fm, samples[:4], CalibOptions{})
		if err != nil {
			t.Fatal(err)
		}
		qm, err := Quantize(fm, ranges, Options{})
		if err != nil {
			t.Fatal(err)
		}
		inQ := qm.Input(0).Quant
		outQ := qm.Output(0).Quant
		var sumQuanta, sumErr2, sumF2 float64
		var logits int
		for k, smp := range samples {
			fb, err := Trace(fm, nil, Float32Bytes(smp[0]))
			if err != nil {
				t.Fatal(err)
			}
			qin := int8Bytes(QuantizeValues(smp[0], inQ.Scale[0], inQ.ZeroPoint[0]))
			qb, err := Trace(qm, RefKernels, qin)
			if err != nil {
				t.Fatal(err)
			}
			f := Float32s(fb[fm.Outputs[0]])
			q := Dequantize(int8s(qb[qm.Outputs[0]]), outQ.Scale[0], outQ.ZeroPoint[0])
			if argmax(f) == argmax(q) {
				agree++
			}
			inputs++
			for j := range f {
				e := math.Abs(float64(q[j]-f[j])) / float64(outQ.Scale[0])
				sumQuanta += e
				sumErr2 += float64(q[j]-f[j]) * float64(q[j]-f[j])
				sumF2 += float64(f[j]) * float64(f[j])
				logits++
				worstQuanta = math.Max(worstQuanta, e)
			}
			if seed == 0 && k == 0 {
				var b strings.Builder
				for _, le := range compareTensors(fm, qm, fb, qb) {
					fmt.Fprintf(&b, "\n  %-18s rel rms %6.3f  rms %5.2f quanta", le.name, le.relRMS, le.rmsQuanta)
				}
				t.Logf("%s per-layer int8 error vs float:%s", a, b.String())
			}
		}
		mean := sumQuanta / float64(logits)
		rel := math.Sqrt(sumErr2 / sumF2)
		t.Logf("seed %d %s: mean |logit error| %.2f quanta (scale %.4f), relative rms %.3f", seed, a, mean, outQ.Scale[0], rel)
		// Rounding errors add up over ~50 int8 operators; a narrow logit
		// range (seed 4: scale 0.0027) makes few quanta a large count.
		if rel > 0.1 || mean > 8 {
			t.Errorf("seed %d: logit error relative rms %.3f, %.2f output quanta", seed, rel, mean)
		}
	}
	t.Logf("top-1 agreement %d/%d, worst logit error %.1f quanta", agree, inputs, worstQuanta)
	if agree*10 < inputs*8 {
		t.Errorf("top-1 agrees on %d/%d inputs, want at least 80%%", agree, inputs)
	}
}

func argmax(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

// TestGeneratedModelsRun loads ArchModel and LayerModel outputs into the
// reference backend and checks that the int8 outputs are neither constant
// nor saturated across random int8 inputs.
func TestGeneratedModelsRun(t *testing.T) {
	var models []*tflite.Model
	var names []string
	for _, tc := range layerCases {
		m, err := LayerModel(tc.layer, 7)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		models, names = append(models, m), append(names, tc.name)
	}
	s := space.MustLookup("spnas-fmnist")
	m, err := ArchModel(s.RandomSeed(4), 4)
	if err != nil {
		t.Fatal(err)
	}
	models, names = append(models, m), append(names, "arch")
	var be runtime.Backend = ref.Backend{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, m := range models {
		it, err := be.Load(m, runtime.Options{})
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		seen := map[int8]bool{}
		var sat, total int
		for r := 0; r < 3; r++ {
			in := make([]byte, m.Input(0).Bytes())
			for j := range in {
				in[j] = byte(rng.IntN(256))
			}
			if err := it.SetInput(0, in); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatalf("%s: %v", names[i], err)
			}
			for _, v := range it.Output(0) {
				seen[int8(v)] = true
				total++
				// -128 is 0 for a ReLU output (zero point -128), not saturation.
				if int8(v) == 127 || (int8(v) == -128 && m.Output(0).Quant.ZeroPoint[0] > -128) {
					sat++
				}
			}
		}
		it.Close()
		if len(seen) < 3 {
			t.Errorf("%s: output takes only %d distinct values", names[i], len(seen))
		}
		if sat*2 > total {
			t.Errorf("%s: %d/%d outputs saturated", names[i], sat, total)
		}
	}
}
