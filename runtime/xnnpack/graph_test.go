package xnnpack

import (
	"fmt"
	"strings"
	"testing"

	"edgenas/tflite"
)

// Tests of the pure-Go planning helpers (they also run without cgo).

func TestGroup(t *testing.T) {
	cases := []struct {
		delegated string // one char per operator: x = XNNPACK, r = ref
		want      string
	}{
		{"", "[]"},
		{"x", "[[0]]"},
		{"r", "[[0]]"},
		{"xxxrxx", "[[0 1 2] [3] [4 5]]"},
		{"rrx", "[[0] [1] [2]]"},
		{"xrrxxr", "[[0] [1] [2] [3 4] [5]]"},
	}
	for _, c := range cases {
		got := group(len(c.delegated), func(i int) bool { return c.delegated[i] == 'x' })
		if fmt.Sprint(got) != c.want {
			t.Errorf("group(%q) = %v, want %s", c.delegated, got, c.want)
		}
	}
}

// chain is a model t0 -op0-> t1 -op1-> t2 -op2-> t3 with a constant t4
// read by op1 and a skip edge t1 -> op2 (op2 reads t2 and t1).
func chain() *tflite.Model {
	ts := make([]tflite.Tensor, 5)
	for i := range ts {
		ts[i] = tflite.Tensor{Name: fmt.Sprintf("t%d", i), Type: tflite.Int8, Shape: []int32{1, 4}}
	}
	ts[4].Data = make([]byte, 4)
	return &tflite.Model{
		Tensors: ts,
		Inputs:  []int{0},
		Outputs: []int{3},
		Operators: []tflite.Operator{
			{Op: tflite.OpLogistic, Inputs: []int{0}, Outputs: []int{1}},
			{Op: tflite.OpAdd, Inputs: []int{1, 4}, Outputs: []int{2}},
			{Op: tflite.OpAdd, Inputs: []int{2, 1}, Outputs: []int{3}},
		},
	}
}

func TestBorders(t *testing.T) {
	m := chain()
	consumers, err := checkGraph(m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{3: true}
	cases := []struct {
		ops     []int
		in, out string
	}{
		{[]int{0, 1, 2}, "[0]", "[3]"},
		{[]int{0}, "[0]", "[1]"},
		{[]int{0, 1}, "[0]", "[1 2]"}, // t1 is also read by op2, outside
		{[]int{1, 2}, "[1]", "[3]"},   // the constant t4 is no border
		{[]int{2}, "[2 1]", "[3]"},
	}
	for _, c := range cases {
		in, o := borders(m, c.ops, consumers, out)
		if fmt.Sprint(in) != c.in || fmt.Sprint(o) != c.out {
			t.Errorf("borders(%v) = %v, %v; want %s, %s", c.ops, in, o, c.in, c.out)
		}
	}
}

func TestCheckGraphRejects(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m *tflite.Model)
		error string
	}{
		{"read before write", func(m *tflite.Model) { m.Operators[0].Inputs[0] = 2 }, "before any operator writes it"},
		{"written twice", func(m *tflite.Model) { m.Operators[1].Outputs[0] = 1 }, "already written"},
		{"writes a constant", func(m *tflite.Model) { m.Operators[1].Outputs[0] = 4 }, "constant"},
		{"input out of range", func(m *tflite.Model) { m.Operators[2].Inputs[1] = 9 }, "out of range"},
		{"graph output never written", func(m *tflite.Model) { m.Operators = m.Operators[:2] }, "never written"},
		{"graph input out of range", func(m *tflite.Model) { m.Inputs = []int{-3} }, "out of range"},
	}
	for _, c := range cases {
		m := chain()
		c.edit(m)
		_, err := checkGraph(m)
		if err == nil || !strings.Contains(err.Error(), c.error) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.error)
		}
	}
	if _, err := checkGraph(nil); err == nil {
		t.Error("nil model accepted")
	}
}

func TestWindowOut(t *testing.T) {
	cases := []struct {
		in, k, s, d int32
		pad         tflite.Padding
		want        int32
		ok          bool
	}{
		{9, 3, 2, 1, tflite.PaddingSame, 5, true},
		{10, 5, 2, 1, tflite.PaddingSame, 5, true},
		{10, 3, 1, 2, tflite.PaddingValid, 6, true},
		{7, 3, 1, 1, tflite.PaddingValid, 5, true},
		{2, 3, 1, 1, tflite.PaddingValid, 0, false},
		{8, 3, 0, 1, tflite.PaddingSame, 0, false},
		{8, 3, 1, 1, tflite.Padding(7), 0, false},
	}
	for _, c := range cases {
		got, err := windowOut(c.in, c.k, c.s, c.d, c.pad)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("windowOut(%d,%d,%d,%d,%v) = %d, %v; want %d ok=%v", c.in, c.k, c.s, c.d, c.pad, got, err, c.want, c.ok)
		}
	}
}

func TestBroadcastShape(t *testing.T) {
	cases := []struct {
		a, b []int32
		want string
	}{
		{[]int32{1, 4, 4, 8}, []int32{1, 1, 1, 8}, "[1 4 4 8]"},
		{[]int32{1, 1, 1, 8}, []int32{1, 4, 4, 8}, "[1 4 4 8]"},
		{[]int32{1, 4, 4, 8}, []int32{8}, "[1 4 4 8]"},
		{[]int32{1, 4, 4, 8}, []int32{1, 4, 4, 3}, "error"},
	}
	for _, c := range cases {
		s, err := broadcastShape(c.a, c.b)
		got := fmt.Sprint(s)
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("broadcastShape(%v, %v) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

func TestMeanOverHW(t *testing.T) {
	cases := []struct {
		axes []int32
		ok   bool
	}{
		{[]int32{1, 2}, true},
		{[]int32{2, 1}, true},
		{[]int32{-3, -2}, true},
		{[]int32{1}, false},
		{[]int32{3}, false},
		{[]int32{0, 1, 2}, false},
		{[]int32{1, 7}, false},
	}
	for _, c := range cases {
		m := probeFreeMean(c.axes)
		err := meanOverHW(m, &m.Operators[0])
		if (err == nil) != c.ok {
			t.Errorf("axes %v: %v, want ok=%v", c.axes, err, c.ok)
		}
	}
}

// probeFreeMean is a MEAN model built without the cgo test helpers.
func probeFreeMean(axes []int32) *tflite.Model {
	data := make([]byte, 4*len(axes))
	for i, a := range axes {
		u := uint32(a)
		data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return &tflite.Model{
		Tensors: []tflite.Tensor{
			{Name: "x", Type: tflite.Int8, Shape: []int32{1, 5, 5, 8}},
			{Name: "axes", Type: tflite.Int32, Shape: []int32{int32(len(axes))}, Data: data},
			{Name: "y", Type: tflite.Int8, Shape: []int32{1, 8}},
		},
		Inputs:    []int{0},
		Outputs:   []int{2},
		Operators: []tflite.Operator{{Op: tflite.OpMean, Inputs: []int{0, 1}, Outputs: []int{2}, Options: &tflite.ReducerOptions{}}},
	}
}
