package backends

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/space"
	"edgenas/tflite"
)

// agreement accumulates how two backends' int8 outputs compare.
type agreement struct {
	inputs, top1Same int
	top1InTop5       int
	elems, within1   int
	same             int
	maxDiff          int
}

// within1Frac is the fraction of elements within one quantum.
func (a *agreement) within1Frac() float64 { return float64(a.within1) / float64(a.elems) }

// within0 is the number of elements that are equal.
func (a *agreement) within0() int { return a.same }

func (a *agreement) add(x, y []byte) {
	a.inputs++
	if runtimetest.Argmax(x) == runtimetest.Argmax(y) {
		a.top1Same++
	}
	if runtimetest.InTopK(x, runtimetest.Argmax(y), 5) && runtimetest.InTopK(y, runtimetest.Argmax(x), 5) {
		a.top1InTop5++
	}
	for i := range x {
		d := int(int8(x[i])) - int(int8(y[i]))
		if d < 0 {
			d = -d
		}
		a.elems++
		if d == 0 {
			a.same++
		}
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
// one quantum on about 0.2% of elements (TestPerOperatorAgreement), nearly all
// from TFLite's double rounding; through 60-180 operators those seeds
// compound, so spnas-fmnist logits differ by several quanta (68.9% within one
// quantum, largest 7; spnas-imagenet 98.0%, largest 3). AGREEMENT.md has the
// evidence that this is rounding and not a kernel bug (a rounding-seed
// control diverges as much; TestAgreementAttribution checks it), and why the
// issue's 99% is unreachable while ref follows TFLite's reference kernels.
// The bounds below are per space, a little under what is measured, so a
// kernel bug breaks them.
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
		// minWithin1 is the least fraction of elements within one
		// quantum, maxDiff the largest difference allowed.
		minWithin1 float64
		maxDiff    int
	}{
		{"spnas-fmnist", 20, 10, 0.60, 10},
		{"spnas-imagenet", 3, 8, 0.95, 6},
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
			if agg.within1Frac() < tc.minWithin1 || agg.maxDiff > tc.maxDiff {
				t.Errorf("outputs diverge beyond compounded rounding (want >= %.0f%% within one quantum, max <= %d): %s",
					100*tc.minWithin1, tc.maxDiff, &agg)
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
		d.count(op.Op.String(), got, xo[oi])
	}
}

// count compares one operator's outputs from the two backends.
func (d *opDiff) count(name string, x, y []byte) {
	if d.worst == nil {
		d.worst = map[string]int{}
	}
	for j := range x {
		v := int(int8(x[j])) - int(int8(y[j]))
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

// merge adds o's counts to d.
func (d *opDiff) merge(o *opDiff) {
	if d.worst == nil {
		d.worst = map[string]int{}
	}
	d.differ += o.differ
	d.total += o.total
	for k, v := range o.worst {
		d.worst[k] = max(d.worst[k], v)
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
