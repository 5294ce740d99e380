package backends

import (
	"fmt"
	"testing"

	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/space"
	"edgenas/tflite"
)

// agreement accumulates how two backends' int8 outputs compare.
type agreement struct {
	inputs, top1Same int
	elems, within1   int
	maxDiff          int
}

func (a *agreement) add(x, y []byte) {
	a.inputs++
	if argmax(x) == argmax(y) {
		a.top1Same++
	}
	for i := range x {
		d := int(int8(x[i])) - int(int8(y[i]))
		if d < 0 {
			d = -d
		}
		a.elems++
		if d <= 1 {
			a.within1++
		}
		a.maxDiff = max(a.maxDiff, d)
	}
}

func (a *agreement) String() string {
	return fmt.Sprintf("top-1 agree %d/%d (%.1f%%), elements within one quantum %.2f%%, largest difference %d quanta",
		a.top1Same, a.inputs, 100*float64(a.top1Same)/float64(a.inputs), 100*float64(a.within1)/float64(a.elems), a.maxDiff)
}

func argmax(b []byte) int {
	best := 0
	for i := range b {
		if int8(b[i]) > int8(b[best]) {
			best = i
		}
	}
	return best
}

func load(t testing.TB, name string, m *tflite.Model) runtime.Interpreter {
	t.Helper()
	b, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	it, err := b.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatalf("load on %s: %v", name, err)
	}
	t.Cleanup(func() { it.Close() })
	return it
}

// compareModel runs m on both backends for n seeded random inputs.
func compareModel(t *testing.T, m *tflite.Model, n int, agg *agreement) {
	x, r := load(t, "xnnpack", m), load(t, "ref", m)
	for k := 0; k < n; k++ {
		seed := uint64(1000 + k)
		for _, it := range []runtime.Interpreter{x, r} {
			if err := profiler.FillRandomInputs(it, seed); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
		}
		agg.add(x.Output(0), r.Output(0))
	}
}

// Whole models from both spaces: XNNPACK and the reference kernels round a
// little differently, so outputs may differ by a quantum, rarely more.
func TestWholeModelAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-model agreement takes ~1 minute")
	}
	if !xnnpackAvailable() {
		t.Fatal("xnnpack backend not available in this build")
	}
	cases := []struct {
		space  string
		models int
		inputs int
	}{
		{"spnas-fmnist", 20, 10},
		{"spnas-imagenet", 3, 4},
	}
	for _, tc := range cases {
		t.Run(tc.space, func(t *testing.T) {
			s := space.MustLookup(tc.space)
			var agg agreement
			withSE, withoutSE := 0, 0
			for i := 0; i < tc.models; i++ {
				a := s.RandomSeed(uint64(100 + i))
				// Alternate forced variants so both SE and plain blocks are covered.
				if i%3 == 2 {
					for j := range a.Choices {
						a.Choices[j].SE = false
					}
				}
				se := false
				for _, c := range a.Choices {
					se = se || c.SE
				}
				if se {
					withSE++
				} else {
					withoutSE++
				}
				m, err := quantize.ArchModel(a, uint64(i))
				if err != nil {
					t.Fatalf("%s: %v", a, err)
				}
				compareModel(t, m, tc.inputs, &agg)
			}
			t.Logf("%s: %d models (%d with SE, %d without): %s", tc.space, tc.models, withSE, withoutSE, &agg)
			if withSE == 0 || withoutSE == 0 {
				t.Errorf("models with SE %d, without %d: both must be covered", withSE, withoutSE)
			}
			if float64(agg.top1Same) < 0.95*float64(agg.inputs) {
				t.Errorf("top-1 agreement below 95%%: %s", &agg)
			}
			if float64(agg.within1) < 0.99*float64(agg.elems) {
				t.Errorf("fewer than 99%% of elements within one quantum: %s", &agg)
			}
		})
	}
}
