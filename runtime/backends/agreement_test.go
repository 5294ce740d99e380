package backends

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/space"
	"edgenas/tflite"
)

// agreement accumulates how two backends' int8 outputs compare.
type agreement struct {
	inputs, top1Same int
	top1InTop5       int
	elems, within1   int
	maxDiff          int
}

func (a *agreement) add(x, y []byte) {
	a.inputs++
	if argmax(x) == argmax(y) {
		a.top1Same++
	}
	if inTop5(x, argmax(y)) && inTop5(y, argmax(x)) {
		a.top1InTop5++
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

// inTop5 reports whether class c is among the five largest values of b.
func inTop5(b []byte, c int) bool {
	above := 0
	for i := range b {
		if int8(b[i]) > int8(b[c]) {
			above++
		}
	}
	return above < 5
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

// Whole models from both spaces. Per operator the backends differ by at most
// one quantum on about 0.2% of elements (TestPerOperatorAgreement); through
// 60-180 operators those seeds compound, so whole-model logits differ by
// several quanta (measured on 20 spnas-fmnist models: ~68% of logits within
// one quantum, largest difference 7; Google-independent MobileNetV2 in
// TestRealModelsBothBackends behaves the same). The target of 99% of
// elements within one quantum therefore does not hold between TFLite's
// double-rounding reference kernels and XNNPACK's single rounding; the test
// asserts the top-1 agreement and bounds that a real kernel bug would break.
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
		{"spnas-imagenet", 3, 8},
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
			if float64(agg.within1) < 0.5*float64(agg.elems) || agg.maxDiff > 16 {
				t.Errorf("outputs diverge beyond compounded rounding (want >= 50%% within one quantum, max <= 16): %s", &agg)
			}
		})
	}
}

// Per operator, on identical inputs, the backends differ by at most one
// quantum: TFLite's reference kernels round twice (MultiplyByQuantizedMultiplier's
// doubling high multiply, then a rounding shift) and XNNPACK once, so a value
// within about 1/256 of a rounding tie can land one quantum apart. Anything
// larger would be a bug in one of them. The whole-model differences in
// TestWholeModelAgreement are these one-quantum seeds compounded through depth.
func TestPerOperatorAgreement(t *testing.T) {
	if !xnnpackAvailable() {
		t.Fatal("xnnpack backend not available in this build")
	}
	s := space.MustLookup("spnas-fmnist")
	var d opDiff
	for i := 0; i < 4; i++ {
		m, err := quantize.ArchModel(s.RandomSeed(uint64(200+i)), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		in := make([]byte, m.Input(0).Bytes())
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range in {
			in[j] = byte(rng.UintN(256))
		}
		d.add(t, m, in)
	}
	d.check(t, "spnas-fmnist")
}

// opDiff accumulates per-operator differences between the backends.
type opDiff struct {
	differ, total int
	worst         map[string]int
}

// add runs m on XNNPACK with every operator output exposed, then runs each
// operator alone on the reference kernels with XNNPACK's own input values,
// and compares the two outputs element by element.
func (d *opDiff) add(t *testing.T, m *tflite.Model, in []byte) {
	if d.worst == nil {
		d.worst = map[string]int{}
	}
	all := *m
	all.Outputs = nil
	for _, op := range m.Operators {
		all.Outputs = append(all.Outputs, op.Outputs[0])
	}
	x := load(t, "xnnpack", &all)
	if err := x.SetInput(0, in); err != nil {
		t.Fatal(err)
	}
	if err := x.Invoke(); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, len(m.Tensors))
	for ti := range m.Tensors {
		if m.Tensors[ti].IsConst() {
			bufs[ti] = m.Tensors[ti].Data
		} else {
			bufs[ti] = make([]byte, m.Tensors[ti].Bytes())
		}
	}
	copy(bufs[m.Inputs[0]], in)
	xo := make([][]byte, len(m.Operators))
	for oi := range m.Operators {
		xo[oi] = x.Output(oi)
		copy(bufs[m.Operators[oi].Outputs[0]], xo[oi])
	}
	for oi, op := range m.Operators {
		k, err := ref.NewKernel(m, oi)
		if err != nil {
			t.Fatal(err)
		}
		out := op.Outputs[0]
		got := make([]byte, len(bufs[out]))
		saved := bufs[out]
		bufs[out] = got
		if err := k.Eval(bufs); err != nil {
			t.Fatal(err)
		}
		bufs[out] = saved
		name := op.Op.String()
		for j := range got {
			v := int(int8(got[j])) - int(int8(xo[oi][j]))
			if v < 0 {
				v = -v
			}
			d.total++
			if v > 0 {
				d.differ++
			}
			d.worst[name] = max(d.worst[name], v)
		}
	}
}

func (d *opDiff) check(t *testing.T, what string) {
	t.Logf("%s per operator, identical inputs: %d of %d elements differ (%.3f%%); largest difference per operator: %v",
		what, d.differ, d.total, 100*float64(d.differ)/float64(d.total), d.worst)
	for name, w := range d.worst {
		if w > 1 {
			t.Errorf("%s: backends differ by %d quanta on identical inputs", name, w)
		}
	}
	if float64(d.differ) > 0.01*float64(d.total) {
		t.Errorf("%.2f%% of elements differ on identical inputs, want under 1%%", 100*float64(d.differ)/float64(d.total))
	}
}
