package litert_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"edgenas/internal/refdata"
	"edgenas/runtime/litert"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/runtime/xnnpack"
	"edgenas/tflite"
)

// realModel is one converter-written int8 model of the shared data, the
// input sets it runs on, and how close ref must come to LiteRT.
type realModel struct {
	file   string
	inputs func(t *testing.T, m *tflite.Model) [][][]byte
	// refQuanta bounds ref's largest output difference from LiteRT, and
	// refTop5 asks ref's top-1 class to be among LiteRT's five best: ref
	// is TFLite's reference kernels, LiteRT runs most operators on XNNPACK,
	// and the per-operator rounding differences (at most one quantum each,
	// see TestOpConformance) compound through the layers: over
	// MobileNetV2's 52 layers to ~15 quanta on the logits, enough to swap
	// close classes (runtime/backends/AGREEMENT.md).
	refQuanta int
	refTop5   bool
}

func randomSets(n int) func(*testing.T, *tflite.Model) [][][]byte {
	return func(_ *testing.T, m *tflite.Model) [][][]byte { return inputSets(m, n, 7) }
}

// personImages are the person and no-person photographs, as
// person_detect.tflite (96x96 gray) or, upscaled and mirrored, the
// MobileNetV2 (224x224 RGB) takes them.
func personImages(t *testing.T, m *tflite.Model) [][][]byte {
	var sets [][][]byte
	for _, name := range []string{"person.bmp", "no_person.bmp"} {
		gray, err := runtimetest.ReadGrayBMP(refdata.Path(t, name), 96, 96)
		if err != nil {
			t.Fatal(err)
		}
		if in := m.Input(0); in.NumElements() == len(gray) {
			sets = append(sets, [][]byte{gray})
			continue
		}
		for _, mirror := range []bool{false, true} {
			b, err := runtimetest.ImageNetInput(m.Input(0), gray, 96, mirror)
			if err != nil {
				t.Fatal(err)
			}
			sets = append(sets, [][]byte{b})
		}
	}
	return sets
}

// TestRealModels runs micro_speech, person_detect (on the person and
// no-person images) and the MobileNetV2 of the shared data on LiteRT and on
// edgenas's xnnpack and ref backends: xnnpack must give LiteRT's bytes
// exactly, ref its top-1 class within refQuanta.
func TestRealModels(t *testing.T) {
	r := litert.ForTest(t)
	requireXNNPACK(t)
	cases := []realModel{
		{file: "micro_speech_quantized.tflite", inputs: randomSets(8), refQuanta: 1, refTop5: true},
		{file: "person_detect.tflite", inputs: personImages, refQuanta: 3, refTop5: true},
		{file: "mobilenet_v2_quantized_1x3x224x224.tflite", inputs: personImages, refQuanta: 20, refTop5: true},
	}
	models := make([]*tflite.Model, len(cases))
	jobs := make([]litert.Job, len(cases))
	for i, c := range cases {
		data, err := os.ReadFile(refdata.Path(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if models[i], err = tflite.Read(data); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if data, err = liteRTAxes(models[i], data); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		jobs[i] = litert.Job{Model: data, Inputs: c.inputs(t, models[i])}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := r.RunBatch(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res := results[i]
			if res.Err != nil {
				t.Fatalf("LiteRT: %v", res.Err)
			}
			m := models[i]
			xnn := runOn(t, xnnpack.Backend{}, m, jobs[i].Inputs)
			rf := runOn(t, ref.Backend{}, m, jobs[i].Inputs)
			worst := 0
			for k := range jobs[i].Inputs {
				want := res.Outputs[k][0]
				if !bytes.Equal(xnn[k][0], want) {
					t.Errorf("input set %d: edgenas xnnpack differs from LiteRT (%s)", k, firstDifference(t, r, m, jobs[i].Inputs[k]))
				}
				d, err := quantaApart(m, rf[k][0], want)
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, d)
				if len(want) <= 4 {
					t.Logf("input set %d: LiteRT and xnnpack %v, ref %v", k, runtimetest.Int8s(want), runtimetest.Int8s(rf[k][0]))
				}
				if top := runtimetest.Argmax(rf[k][0]); c.refTop5 && !runtimetest.InTopK(want, top, 5) {
					t.Errorf("input set %d: ref's top-1 class %d is not among LiteRT's five best", k, top)
				}
			}
			t.Logf("LiteRT XNNPACK took the whole graph: %v; xnnpack bit-exact on %d input sets; ref at most %d quanta from LiteRT",
				res.FullyAccelerated, len(jobs[i].Inputs), worst)
			if worst > c.refQuanta {
				t.Errorf("ref is %d quanta from LiteRT, allowed %d", worst, c.refQuanta)
			}
		})
	}
}

// liteRTAxes returns the model LiteRT is given: data itself, or, where a
// 1-D tensor's quantization names a quantized_dimension other than 0 (the
// biases of person_detect.tflite say 3, which older TFLite accepted and
// LiteRT 2.x refuses: "quantized_dimension must be in range [0, 1)"), the
// model rewritten with that axis 0, its only dimension: no value changes.
func liteRTAxes(m *tflite.Model, data []byte) ([]byte, error) {
	fixed := *m
	fixed.Tensors = append([]tflite.Tensor(nil), m.Tensors...)
	changed := false
	for i := range fixed.Tensors {
		t := &fixed.Tensors[i]
		if t.Quant != nil && len(t.Shape) == 1 && t.Quant.Axis != 0 {
			q := *t.Quant
			q.Axis, t.Quant, changed = 0, &q, true
		}
	}
	if !changed {
		return data, nil
	}
	return tflite.Write(&fixed)
}
