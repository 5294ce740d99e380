//go:build cgo

package xnnpack

import (
	"math/rand/v2"
	"slices"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// hsMBConvModel is a MobileNetV3-style inverted residual block with
// hard-swish: 1x1 expand, HARD_SWISH, kxk depthwise, HARD_SWISH, 1x1
// project, residual ADD. This XNNPACK rejects int8 hard-swish, so the plan
// alternates XNNPACK partitions and reference operators, and the block
// input crosses two partition boundaries.
func hsMBConvModel(seed uint64, hw, c, k, e int32) *tflite.Model {
	b := newMB(seed)
	x := b.input([]int32{1, hw, hw, c}, 0.05, 4)
	w1 := b.weights(0, c*e, 1, 1, c)
	h := b.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c*e), x, w1, b.bias(w1))
	h = b.op(tflite.OpHardSwish, nil, b.act(1, hw, hw, c*e), h)
	wd := b.weights(3, 1, k, k, c*e)
	h = b.op(tflite.OpDepthwiseConv2D, &tflite.DepthwiseConv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, DepthMultiplier: 1, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c*e), h, wd, b.bias(wd))
	h = b.op(tflite.OpHardSwish, nil, b.act(1, hw, hw, c*e), h)
	w2 := b.weights(0, c, 1, 1, c*e)
	p := b.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c), h, w2, b.bias(w2))
	return b.model(b.op(tflite.OpAdd, &tflite.AddOptions{}, b.act(1, hw, hw, c), p, x))
}

func TestMixedPartitions(t *testing.T) {
	m := hsMBConvModel(50, 7, 8, 3, 3)
	plan, err := Backend{}.Plan(m)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]int
	var where []string
	for _, p := range plan {
		got, where = append(got, p.Ops), append(where, p.Backend)
	}
	want := [][]int{{0}, {1}, {2}, {3}, {4, 5}}
	if !slices.EqualFunc(got, want, slices.Equal) || !slices.Equal(where, []string{x, r, x, r, x}) {
		t.Fatalf("plan:\n%s want ops %v on %v", FormatPlan(plan), want, []string{x, r, x, r, x})
	}
	// The block input is read by the first and the last partition.
	in := m.Inputs[0]
	if !slices.Contains(plan[0].Inputs, in) || !slices.Contains(plan[4].Inputs, in) {
		t.Errorf("block input %d is not an input of partitions 0 and 4:\n%s", in, FormatPlan(plan))
	}
	it, err := Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	rng := rand.New(rand.NewPCG(5, 5))
	for trial := range 3 {
		inputs := randomInputs(m, rng)
		if err := it.SetInput(0, inputs[0]); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(it.Output(0), reference(m, inputs)[0]); d > 2 {
			t.Errorf("trial %d: %d quanta from the float reference", trial, d)
		}
	}
	prof := it.Profile()
	names := []string{"XNNPACK(1 ops)", "HARD_SWISH", "XNNPACK(1 ops)", "HARD_SWISH", "XNNPACK(2 ops)"}
	for k, p := range prof {
		if p.Name != names[k] || p.Backend != where[k] || p.Count != 3 {
			t.Errorf("profile node %d: %+v, want %s on %s, 3 runs", k, p, names[k], where[k])
		}
	}
}

// TestAgreesWithRef runs every test model on both backends.
func TestAgreesWithRef(t *testing.T) {
	cases := append(opCases(), opCase{name: "hard-swish MBConv", m: hsMBConvModel(51, 6, 8, 5, 4), tol: 2})
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := randomInputs(c.m, rand.New(rand.NewPCG(uint64(k), 3)))
			got := run(t, c.m, 2, in)
			rit, err := ref.Backend{}.Load(c.m, runtime.Options{})
			if err != nil {
				// Coverage of the reference backend, not of this one: the
				// float comparison in TestOpsAgainstFloat still runs it.
				t.Skipf("ref backend cannot load the model: %v", err)
			}
			defer rit.Close()
			if err := rit.SetInput(0, in[0]); err != nil {
				t.Fatal(err)
			}
			if len(in) > 1 {
				if err := rit.SetInput(1, in[1]); err != nil {
					t.Fatal(err)
				}
			}
			if err := rit.Invoke(); err != nil {
				t.Fatal(err)
			}
			for o := range got {
				if d := maxDiff(got[o], rit.Output(o)); d > c.tol {
					t.Errorf("output %d: %d quanta from the ref backend (tolerance %d)", o, d, c.tol)
				}
			}
		})
	}
}
