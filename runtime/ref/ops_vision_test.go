package ref_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// unit is the int8 quantization where a stored value is its real value.
var unit = runtimetest.Quant{Scale: 1, ZeroPoint: 0}

func i8s(v ...int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// runRef runs m on the reference backend with the given raw inputs and
// returns output 0 as int8 values.
func runRef(t *testing.T, m *tflite.Model, inputs ...[]byte) []int8 {
	t.Helper()
	it, err := ref.Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for i, in := range inputs {
		if err := it.SetInput(i, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Invoke(); err != nil {
		t.Fatal(err)
	}
	out := it.Output(0)
	v := make([]int8, len(out))
	for i, b := range out {
		v[i] = int8(b)
	}
	return v
}

// TestVisionOpsByHand checks the new operators on inputs small enough to
// work out by hand, independently of the kernels' own index logic.
func TestVisionOpsByHand(t *testing.T) {
	row := i8s(0, 1, 2, 3, 4, 5)
	square := i8s(1, 2, 3, 4)
	tests := []struct {
		name   string
		build  func(g *runtimetest.Graph)
		inputs [][]byte
		want   []int8
	}{
		{"strided slice 1:5:2", func(g *runtimetest.Graph) {
			g.StridedSlice(g.Input([]int32{1, 6}, unit), runtimetest.SliceSpec{Begin: []int32{0, 1}, End: []int32{1, 5}, Strides: []int32{1, 2}})
		}, [][]byte{row}, []int8{1, 3}},
		{"strided slice reversed with end mask", func(g *runtimetest.Graph) {
			g.StridedSlice(g.Input([]int32{1, 6}, unit), runtimetest.SliceSpec{Begin: []int32{0, -2}, End: []int32{1, 0},
				Strides: []int32{1, -2}, EndMask: 2})
		}, [][]byte{row}, []int8{4, 2, 0}},
		{"strided slice shrink and begin mask", func(g *runtimetest.Graph) {
			g.StridedSlice(g.Input([]int32{2, 3}, unit), runtimetest.SliceSpec{Begin: []int32{1, 2}, End: []int32{2, 3},
				Strides: []int32{1, 1}, ShrinkAxisMask: 1, BeginMask: 2})
		}, [][]byte{row}, []int8{3, 4, 5}},
		{"concat last axis", func(g *runtimetest.Graph) {
			g.Concat(-1, g.Input([]int32{2, 2}, unit), g.Input([]int32{2, 1}, unit))
		}, [][]byte{i8s(1, 2, 3, 4), i8s(9, 8)}, []int8{1, 2, 9, 3, 4, 8}},
		{"concat first axis", func(g *runtimetest.Graph) {
			g.Concat(0, g.Input([]int32{1, 2}, unit), g.Input([]int32{2, 2}, unit))
		}, [][]byte{i8s(1, 2), i8s(3, 4, 5, 6)}, []int8{1, 2, 3, 4, 5, 6}},
		{"squeeze", func(g *runtimetest.Graph) { g.Squeeze(g.Input([]int32{1, 2, 1, 2}, unit)) }, [][]byte{square}, []int8{1, 2, 3, 4}},
		{"nearest 2x legacy", func(g *runtimetest.Graph) {
			g.Resize(g.Input([]int32{1, 2, 2, 1}, unit), false, 4, 4, false, false)
		}, [][]byte{square}, []int8{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}},
		{"nearest 3x3 align corners rounds half away", func(g *runtimetest.Graph) {
			g.Resize(g.Input([]int32{1, 2, 2, 1}, unit), false, 3, 3, true, false)
		}, [][]byte{square}, []int8{1, 2, 2, 3, 4, 4, 3, 4, 4}},
		{"bilinear 2x legacy", func(g *runtimetest.Graph) {
			g.Resize(g.Input([]int32{1, 1, 2, 1}, unit), true, 1, 4, false, false)
		}, [][]byte{i8s(0, 100)}, []int8{0, 50, 100, 100}},
		{"bilinear 2x half pixel", func(g *runtimetest.Graph) {
			g.Resize(g.Input([]int32{1, 1, 2, 1}, unit), true, 1, 4, false, true)
		}, [][]byte{i8s(0, 100)}, []int8{0, 25, 75, 100}},
		{"max pool 2x2 stride 2", func(g *runtimetest.Graph) {
			g.MaxPool(g.Input([]int32{1, 2, 4, 1}, unit), 2, 2, 2, tflite.PaddingValid, tflite.ActNone)
		}, [][]byte{i8s(1, -5, 7, 2, 3, 4, -8, -9)}, []int8{4, 7}},
		{"max pool relu", func(g *runtimetest.Graph) {
			g.MaxPool(g.Input([]int32{1, 1, 2, 1}, unit), 1, 1, 1, tflite.PaddingValid, tflite.ActRelu)
		}, [][]byte{i8s(-3, 3)}, []int8{0, 3}},
		{"sub with broadcast", func(g *runtimetest.Graph) {
			g.Sub(g.Input([]int32{1, 3}, unit), g.Input([]int32{1, 1}, unit), tflite.ActNone, unit)
		}, [][]byte{i8s(10, -20, 100), i8s(30)}, []int8{-20, -50, 70}},
		{"maximum", func(g *runtimetest.Graph) {
			g.MaxMin(g.Input([]int32{3}, unit), g.Input([]int32{3}, unit), true)
		}, [][]byte{i8s(1, -2, 3), i8s(-1, 2, 3)}, []int8{1, 2, 3}},
		{"minimum broadcast", func(g *runtimetest.Graph) {
			g.MaxMin(g.Input([]int32{3}, unit), g.Input([]int32{1}, unit), false)
		}, [][]byte{i8s(1, -2, 3), i8s(0)}, []int8{0, -2, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := runtimetest.NewGraph(1)
			tc.build(g)
			if got := runRef(t, g.Model(), tc.inputs...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTransposeConvByHand scatters ones through a filter of ones: each
// output counts the input pixels whose window covers it.
func TestTransposeConvByHand(t *testing.T) {
	tests := []struct {
		name    string
		stride  int32
		kernel  int32
		pad     tflite.Padding
		outSize int32
		want    []int8
	}{
		{"stride 2 VALID 2x2: no overlap", 2, 2, tflite.PaddingValid, 4, []int8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"stride 1 VALID 2x2: overlaps", 1, 2, tflite.PaddingValid, 3, []int8{1, 2, 1, 2, 4, 2, 1, 2, 1}},
		// SAME, stride 2, 3x3 filter on 2x2: padding 0 before; rows
		// receive 1, 1, 2 (both pixels) and 1 window.
		{"stride 2 SAME 3x3", 2, 3, tflite.PaddingSame, 4, []int8{1, 1, 2, 1, 1, 1, 2, 1, 2, 2, 4, 2, 1, 1, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &tflite.Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}}
			k := tc.kernel
			ones := make([]byte, k*k)
			for i := range ones {
				ones[i] = 1
			}
			shape := make([]byte, 16)
			for i, d := range []int32{1, tc.outSize, tc.outSize, 1} {
				binary.LittleEndian.PutUint32(shape[4*i:], uint32(d))
			}
			m := &tflite.Model{Version: tflite.SchemaVersion,
				Tensors: []tflite.Tensor{
					{Name: "shape", Type: tflite.Int32, Shape: []int32{4}, Data: shape},
					{Name: "w", Type: tflite.Int8, Shape: []int32{1, k, k, 1}, Data: ones, Quant: q},
					{Name: "x", Type: tflite.Int8, Shape: []int32{1, 2, 2, 1}, Quant: q},
					{Name: "y", Type: tflite.Int8, Shape: []int32{1, tc.outSize, tc.outSize, 1}, Quant: q},
				},
				Operators: []tflite.Operator{{Op: tflite.OpTransposeConv, Version: 3, Inputs: []int{0, 1, 2}, Outputs: []int{3},
					Options: &tflite.TransposeConvOptions{Padding: tc.pad, StrideW: tc.stride, StrideH: tc.stride}}},
				Inputs: []int{2}, Outputs: []int{3}}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := runRef(t, m, i8s(1, 1, 1, 1)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOpCasesNoAllocations checks the vision and audio kernels, like the
// others, run without allocating in the steady state.
func TestOpCasesNoAllocations(t *testing.T) {
	for _, c := range runtimetest.OpCases(2) {
		it, err := ref.Backend{}.Load(c.Model, runtime.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for j, b := range runtimetest.RandomInputs(c.Model, 1) {
			if err := it.SetInput(j, b); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(5, func() { it.Invoke() }); n != 0 {
			t.Errorf("%s: Invoke allocates %v times", c.Name, n)
		}
		it.Close()
	}
}
