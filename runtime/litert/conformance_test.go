package litert_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"edgenas/internal/refdata"
	"edgenas/quantize"
	"edgenas/runtime/litert"
	"edgenas/runtime/runtimetest"
	"edgenas/runtime/xnnpack"
	"edgenas/space"
	"edgenas/tflite"
)

const mobileNetV2 = "MobileNetV2 (shared data)"

// conformanceModel is one model of the conformance run.
type conformanceModel struct {
	name string
	m    *tflite.Model
	se   bool
}

// generatedModels are models edgenas writes: whole spnas-fmnist
// architectures with and without squeeze-and-excitation, single layers, and
// the float-I/O form with SOFTMAX.
func generatedModels(t *testing.T) []conformanceModel {
	t.Helper()
	s := space.MustLookup("spnas-fmnist")
	parse := func(tok string) space.Choice {
		c, err := space.ParseChoice(tok)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type spec struct {
		name   string
		layers []space.Layer
		opts   quantize.GenOptions
	}
	specs := []spec{
		{name: "uniform k3e3", layers: s.Uniform(parse("k3e3")).Layers()},
		{name: "uniform k5e6+se", layers: s.Uniform(parse("k5e6+se")).Layers()},
		{name: "uniform k3e6+se softmax float-io", layers: s.Uniform(parse("k3e6+se")).Layers(),
			opts: quantize.GenOptions{Softmax: true, Quant: quantize.Options{FloatIO: true}}},
	}
	for seed := uint64(1); seed <= 8; seed++ {
		a := s.RandomSeed(seed)
		specs = append(specs, spec{name: fmt.Sprintf("random seed %d %s", seed, a), layers: a.Layers()})
	}
	for _, l := range s.UniqueKeys() {
		if l.Kind == space.KindMBConv && l.Stride == 2 && l.Kernel == 5 && l.Expand == 6 && len(specs) < 14 {
			specs = append(specs, spec{name: "layer " + l.Key(), layers: []space.Layer{l}})
		}
	}
	img := space.MustLookup("spnas-imagenet").RandomSeed(2)
	specs = append(specs, spec{name: "spnas-imagenet random seed 2 " + img.String(), layers: img.Layers()})
	var out []conformanceModel
	for i, sp := range specs {
		m, err := quantize.Generate(sp.layers, uint64(i+1), sp.opts)
		if err != nil {
			t.Fatalf("%s: %v", sp.name, err)
		}
		se := false
		for _, l := range sp.layers {
			se = se || l.SE()
		}
		out = append(out, conformanceModel{name: sp.name, m: m, se: se})
	}
	return out
}

// inputSets draws n seeded input sets for m (runtimetest.RandomInputs).
func inputSets(m *tflite.Model, n int, seed uint64) [][][]byte {
	sets := make([][][]byte, n)
	for k := range sets {
		sets[k] = runtimetest.RandomInputs(m, seed*16+uint64(k))
	}
	return sets
}

// TestConformance runs models edgenas writes, and the MobileNetV2 of the
// shared data, on LiteRT and on edgenas's xnnpack backend: every output
// byte must be the same.
func TestConformance(t *testing.T) {
	r := litert.ForTest(t)
	requireXNNPACK(t)
	models := generatedModels(t)
	// Without the shared data (and outside CI) the generated models are
	// still checked; refdata.Path fails the test under CI.
	if _, err := refdata.Find(); err == nil || os.Getenv("CI") != "" {
		mnv2, err := tflite.ReadFile(refdata.Path(t, "mobilenet_v2_quantized_1x3x224x224.tflite"))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, conformanceModel{name: mobileNetV2, m: mnv2})
	} else {
		t.Logf("MobileNetV2 left out: %v", err)
	}
	ms := make([]*tflite.Model, len(models))
	for i, cm := range models {
		ms[i] = cm.m
	}
	jobs, results := runBatch(t, r, ms, 2)
	var withSE, withoutSE int
	for i, cm := range models {
		res := results[i]
		if res.Err != nil {
			t.Errorf("%s: %v", cm.name, res.Err)
			continue
		}
		want := runOn(t, xnnpack.Backend{}, cm.m, jobs[i].Inputs)
		same := true
		for k := range want {
			for o := range want[k] {
				if bytes.Equal(res.Outputs[k][o], want[k][o]) {
					continue
				}
				same = false
				t.Errorf("%s: input set %d output %d differs (LiteRT %x..., edgenas xnnpack %x...): %s",
					cm.name, k, o, head(res.Outputs[k][o]), head(want[k][o]), firstDifference(t, r, cm.m, jobs[i].Inputs[k]))
			}
		}
		if same && cm.name != mobileNetV2 {
			if cm.se {
				withSE++
			} else {
				withoutSE++
			}
		}
	}
	t.Logf("bit-exact: %d generated models with SE, %d without (of %d models run, MobileNetV2 included when present)",
		withSE, withoutSE, len(models))
	if withSE < 5 || withoutSE < 2 || withSE+withoutSE < 10 {
		t.Errorf("bit-exact on %d models with SE and %d without; want at least 10, with and without SE", withSE, withoutSE)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

// requireXNNPACK skips the test where edgenas's xnnpack backend is not
// built (no cgo or no library), and fails it there under CI.
func requireXNNPACK(t *testing.T) {
	t.Helper()
	if xnnpack.Available() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("LiteRT conformance under CI: edgenas's xnnpack backend is not available")
	}
	t.Skip("LiteRT conformance compares with the xnnpack backend, which is not available here")
}

// runBatch writes each model and runs it on LiteRT on nSets seeded input
// sets, all in one node process; it returns the jobs and their results.
func runBatch(t *testing.T, r *litert.Runtime, models []*tflite.Model, nSets int) ([]litert.Job, []litert.Result) {
	t.Helper()
	jobs := make([]litert.Job, len(models))
	for i, m := range models {
		b, err := tflite.Write(m)
		if err != nil {
			t.Fatalf("model %d: %v", i, err)
		}
		jobs[i] = litert.Job{Model: b, Inputs: inputSets(m, nSets, uint64(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	results, err := r.RunBatch(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LiteRT ran %d models in %v", len(jobs), time.Since(start).Round(time.Millisecond))
	return jobs, results
}
