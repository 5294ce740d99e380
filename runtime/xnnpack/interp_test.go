//go:build cgo

package xnnpack

import (
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/tflite"
)

// TestInternalTensorAsGraphOutput checks a tensor that is both read inside
// a partition and a graph output is an external output with right contents.
func TestInternalTensorAsGraphOutput(t *testing.T) {
	m := seModel(40, -1)
	hidden := m.Operators[1].Outputs[0] // the first FULLY_CONNECTED's, read by the second
	m.Outputs = append([]int{hidden}, m.Outputs...)
	plan, err := Backend{}.Plan(m)
	if err != nil {
		t.Fatal(err)
	}
	// The MEAN may be a node of its own (mean.go); the rest is one partition.
	last := plan[len(plan)-1]
	if last.Backend != backendXNNPACK || len(last.Outputs) != 2 || last.Outputs[0] != hidden {
		t.Fatalf("plan %+v: want a last XNNPACK partition with outputs [hidden, result]", plan)
	}
	in := randomInputs(m, rand.New(rand.NewPCG(4, 4)))
	want, got := reference(m, in), run(t, m, 1, in)
	for o := range want {
		if d := maxDiff(got[o], want[o]); d > 2 {
			t.Errorf("output %d: %d quanta from the float reference", o, d)
		}
	}
}

func TestProfileAndPlan(t *testing.T) {
	m := seModel(41, -1)
	it, err := Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for range 3 {
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
	}
	prof := it.Profile()
	if len(prof) != 1 {
		t.Fatalf("profile %+v: want one node", prof)
	}
	p := prof[0]
	if p.Name != "XNNPACK(6 ops)" || p.Backend != "xnnpack" || p.Count != 3 || len(p.Ops) != 6 || p.Total <= 0 {
		t.Errorf("profile node %+v", p)
	}
	it.ResetProfile()
	if p := it.Profile()[0]; p.Count != 0 || p.Total != 0 {
		t.Errorf("after reset: %+v", p)
	}
	planner, ok := it.(interface{ Plan() []Partition })
	if !ok {
		t.Fatal("interpreter does not expose Plan")
	}
	if pl := planner.Plan(); len(pl) != 1 || pl[0].Backend != "xnnpack" || len(pl[0].Inputs) != 1 || len(pl[0].Outputs) != 1 {
		t.Errorf("plan %+v", pl)
	}
}

// TestInvokeAllocatesNothing guards the per-invoke overhead.
func TestInvokeAllocatesNothing(t *testing.T) {
	m := convModel(42, []int32{1, 1, 1, 8}, 8, 1, 1, tflite.PaddingValid, tflite.ActNone, 0, 1)
	it, err := Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if n := testing.AllocsPerRun(100, func() { _ = it.Invoke() }); n != 0 {
		t.Errorf("Invoke allocates %v times per run", n)
	}
}

func TestBadUse(t *testing.T) {
	m := convModel(43, []int32{1, 4, 4, 8}, 8, 1, 1, tflite.PaddingValid, tflite.ActNone, 0, 1)
	it, err := Backend{}.Load(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
	}{
		{"short input", it.SetInput(0, make([]byte, 3))},
		{"input index", it.SetInput(1, make([]byte, 128))},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if it.Output(5) != nil {
		t.Error("Output(5) of a one-output model is not nil")
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := it.Invoke(); err == nil {
		t.Error("Invoke after Close: no error")
	}
}

func TestLoadRefusesUnknownOperator(t *testing.T) {
	b := newMB(44)
	x := b.input([]int32{1, 4}, 0.1, 0)
	y := b.act(1, 4)
	b.m.Operators = append(b.m.Operators, tflite.Operator{Op: tflite.Opcode(99), Inputs: []int{x}, Outputs: []int{y}})
	b.m.Outputs = []int{y}
	_, err := Backend{}.Load(&b.m, runtime.Options{})
	if err == nil || !strings.Contains(err.Error(), "SQUARED_DIFFERENCE (operator 0:") {
		t.Errorf("Load error %v, want it to name SQUARED_DIFFERENCE (operator 0: ...)", err)
	}
}

func TestLoadRefusesMalformedModel(t *testing.T) {
	cases := []struct {
		name string
		edit func(m *tflite.Model)
	}{
		{"input index out of range", func(m *tflite.Model) { m.Operators[0].Inputs[0] = 1000 }},
		{"graph output out of range", func(m *tflite.Model) { m.Outputs[0] = -3 }},
		{"activation scale zero", func(m *tflite.Model) { m.Tensors[m.Outputs[0]].Quant.Scale[0] = 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := convModel(45, []int32{1, 4, 4, 8}, 8, 1, 1, tflite.PaddingValid, tflite.ActNone, 0, 1)
			c.edit(m)
			if _, err := (Backend{}).Load(m, runtime.Options{}); err == nil {
				t.Error("Load accepted a malformed model")
			}
		})
	}
}
