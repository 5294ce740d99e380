package litert_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"edgenas/internal/refdata"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/litert"
	"edgenas/runtime/xnnpack"
	"edgenas/space"
	"edgenas/tflite"
)

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

// randomInputs draws n input sets for m: uniform int8 bytes, or float32 in [-1, 1].
func randomInputs(m *tflite.Model, n int, seed uint64) [][][]byte {
	rng := rand.New(rand.NewPCG(seed, 77))
	sets := make([][][]byte, n)
	for k := range sets {
		for i := range m.Inputs {
			t := m.Input(i)
			b := make([]byte, t.Bytes())
			if t.Type == tflite.Float32 {
				for j := 0; j < len(b); j += 4 {
					binary.LittleEndian.PutUint32(b[j:], math.Float32bits(2*rng.Float32()-1))
				}
			} else {
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
			}
			sets[k] = append(sets[k], b)
		}
	}
	return sets
}

// runXNNPACK runs m on edgenas's xnnpack backend.
func runXNNPACK(t *testing.T, m *tflite.Model, sets [][][]byte) [][][]byte {
	t.Helper()
	ip, err := xnnpack.Backend{}.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatalf("xnnpack load: %v", err)
	}
	defer ip.Close()
	var out [][][]byte
	for _, set := range sets {
		for i, b := range set {
			if err := ip.SetInput(i, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		for i := range m.Outputs {
			got = append(got, ip.Output(i))
		}
		out = append(out, got)
	}
	return out
}

// TestConformance runs models edgenas writes, and the MobileNetV2 of the
// shared data, on LiteRT and on edgenas's xnnpack backend: every output
// byte must be the same.
func TestConformance(t *testing.T) {
	r := litert.ForTest(t)
	if !xnnpack.Available() {
		if os.Getenv("CI") != "" {
			t.Fatal("LiteRT conformance under CI: edgenas's xnnpack backend is not available")
		}
		t.Skip("LiteRT conformance compares with the xnnpack backend, which is not available here")
	}
	models := generatedModels(t)
	mnv2, err := tflite.ReadFile(refdata.Path(t, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	models = append(models, conformanceModel{name: "MobileNetV2 (shared data)", m: mnv2})
	jobs := make([]litert.Job, len(models))
	for i, cm := range models {
		b, err := tflite.Write(cm.m)
		if err != nil {
			t.Fatalf("%s: %v", cm.name, err)
		}
		jobs[i] = litert.Job{Model: b, Inputs: randomInputs(cm.m, 2, uint64(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	results, err := r.RunBatch(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LiteRT ran %d models in %v", len(jobs), time.Since(start).Round(time.Millisecond))
	var withSE, withoutSE int
	for i, cm := range models {
		res := results[i]
		if res.Err != nil {
			t.Errorf("%s: %v", cm.name, res.Err)
			continue
		}
		want := runXNNPACK(t, cm.m, jobs[i].Inputs)
		same := true
		for k := range want {
			for o := range want[k] {
				if !bytes.Equal(res.Outputs[k][o], want[k][o]) {
					same = false
					t.Errorf("%s: input set %d output %d differs: LiteRT %x..., edgenas xnnpack %x...",
						cm.name, k, o, head(res.Outputs[k][o]), head(want[k][o]))
				}
			}
		}
		if same && cm.name != "MobileNetV2 (shared data)" {
			if cm.se {
				withSE++
			} else {
				withoutSE++
			}
		}
	}
	t.Logf("bit-exact: %d generated models with SE, %d without, and MobileNetV2", withSE, withoutSE)
	if withSE < 5 || withoutSE < 2 || withSE+withoutSE < 10 {
		t.Errorf("bit-exact on %d models with SE and %d without; want at least 10, with and without SE", withSE, withoutSE)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }
