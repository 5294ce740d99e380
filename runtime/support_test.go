package runtime

import (
	"slices"
	"testing"

	"edgenas/tflite"
)

// opSupporter supports every operator but those of the listed codes.
type opSupporter []tflite.Opcode

func (s opSupporter) Supports(m *tflite.Model, op int) (bool, string) {
	if slices.Contains(s, m.Operators[op].Op) {
		return false, "no kernel"
	}
	return true, "test"
}

func TestCheckSupportedNamesOperators(t *testing.T) {
	m := &tflite.Model{Operators: []tflite.Operator{{Op: tflite.OpConv2D}, {Op: 27}, {Op: tflite.OpCustom, CustomCode: "Post"}, {Op: 27}}}
	tests := []struct {
		name    string
		refuse  opSupporter
		want    string
		opNames []string
	}{
		{"all run", nil, "", nil},
		{"grouped by name", opSupporter{27, tflite.OpCustom},
			"b backend cannot run SVDF (operators 1, 3: no kernel); CUSTOM(Post) (operator 2: no kernel)", []string{"SVDF", "CUSTOM(Post)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSupported("b", tc.refuse, m)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			un, ok := err.(*UnsupportedError)
			if !ok || err.Error() != tc.want || !slices.Equal(un.OpNames(), tc.opNames) {
				t.Errorf("err %v, want %q with operators %v", err, tc.want, tc.opNames)
			}
		})
	}
}

func TestUnmodelledReasons(t *testing.T) {
	q := &tflite.Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}, Custom: true}
	m := &tflite.Model{
		Tensors: []tflite.Tensor{{Name: "a"}, {Name: "sparse", Sparse: true}, {Name: "custom", Quant: q}},
		Operators: []tflite.Operator{
			{Op: tflite.OpAdd, Inputs: []int{0, 0}, Outputs: []int{0}},
			{Op: 27, Undecoded: "SVDF is not modelled by edgenas"},
			{Op: tflite.OpFullyConnected, Inputs: []int{0, 1, -1}, Outputs: []int{0}},
			{Op: tflite.OpAdd, Inputs: []int{0, 2}, Outputs: []int{0}},
		}}
	want := []string{"", "SVDF is not modelled by edgenas", `tensor "sparse" is stored sparse`, `tensor "custom" has custom quantization`}
	for i := range m.Operators {
		if got := UnmodelledReason(m, &m.Operators[i]); got != want[i] {
			t.Errorf("operator %d: %q, want %q", i, got, want[i])
		}
	}
	err := Unmodelled("ref", m)
	if un, ok := err.(*UnsupportedError); !ok || len(un.Ops) != 3 || un.Ops[0].Index != 1 {
		t.Errorf("Unmodelled = %v", err)
	}
}
