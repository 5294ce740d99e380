//go:build cgo

package xnnpack

import (
	"fmt"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/runtime"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// person_detect.tflite is a real model written by Google's converter
// (MobileNetV1 0.25, 96x96x1 int8): it checks the translation against
// tensors nobody here wrote.

func loadPersonDetect(t *testing.T) *tflite.Model {
	t.Helper()
	m, err := tflite.ReadFile(refdata.Path(t, "person_detect.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPersonDetectPlacement checks what XNNPACK takes from the real model:
// every convolution (including the depthwise with multiplier 8) and the
// reshape, but not the int8 average pool or softmax.
func TestPersonDetectPlacement(t *testing.T) {
	m := loadPersonDetect(t)
	counts := map[string]int{}
	for i := range m.Operators {
		where := backendXNNPACK
		if err := probe(m, i); err != nil {
			where = backendRef
			t.Logf("operator %d %v: %v", i, m.Operators[i].Op, err)
		}
		counts[m.Operators[i].Op.String()+" "+where]++
	}
	want := map[string]int{
		"CONV_2D xnnpack":           14,
		"DEPTHWISE_CONV_2D xnnpack": 14,
		"AVERAGE_POOL_2D ref":       1,
		"RESHAPE xnnpack":           1,
		"SOFTMAX ref":               1,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("placement %v, want %v", counts, want)
	}
}

// TestPersonDetect runs the model on the two reference images: each must
// get its own class, close to the scores Arm NN's independent reader gives.
func TestPersonDetect(t *testing.T) {
	m := loadPersonDetect(t)
	cases := []struct {
		image string
		want  [2]int8 // [no person, person]
	}{
		{"person.bmp", [2]int8{-115, 115}},
		{"no_person.bmp", [2]int8{62, -62}},
	}
	for _, threads := range []int{1, 2} {
		it, err := Backend{}.Load(m, runtime.Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			px, err := runtimetest.ReadGrayBMP(refdata.Path(t, c.image), 96, 96)
			if err != nil {
				t.Fatal(err)
			}
			if err := it.SetInput(0, px); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
			out := it.Output(0)
			got := [2]int8{int8(out[0]), int8(out[1])}
			t.Logf("%s, %d thread(s): %v", c.image, threads, got)
			wantPerson := c.want[1] > c.want[0]
			if (got[1] > got[0]) != wantPerson {
				t.Errorf("%s: scores %v give the wrong class", c.image, got)
			}
			for k := range got {
				if d := absInt(int(got[k]) - int(c.want[k])); d > 3 {
					t.Errorf("%s: score %d is %d, want %d within 3 quanta", c.image, k, got[k], c.want[k])
				}
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPersonDetectConvStack runs the model's convolution stack (everything
// before the average pool, all on XNNPACK) and compares it with the float
// reference evaluated layer by layer on the dequantized tensors.
func TestPersonDetectConvStack(t *testing.T) {
	m := loadPersonDetect(t)
	last := -1
	for i, op := range m.Operators {
		if op.Op == tflite.OpAveragePool2D {
			break
		}
		last = i
	}
	if last < 0 {
		t.Fatal("no operators before the average pool")
	}
	sub := *m
	sub.Operators = m.Operators[:last+1]
	sub.Outputs = []int{m.Operators[last].Outputs[0]}
	px, err := runtimetest.ReadGrayBMP(refdata.Path(t, "person.bmp"), 96, 96)
	if err != nil {
		t.Fatal(err)
	}
	want := reference(&sub, [][]byte{px})[0]
	got := run(t, &sub, 1, [][]byte{px})[0]
	d, n := 0, 0
	for i := range got {
		e := absInt(int(int8(got[i])) - int(int8(want[i])))
		d = max(d, e)
		if e > 0 {
			n++
		}
	}
	t.Logf("%d layers: %d of %d values differ, by at most %d quanta", last+1, n, len(got), d)
	if d > 3 {
		t.Errorf("conv stack output %d quanta from the float reference", d)
	}
}
