package tflite

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

func TestReadPersonDetect(t *testing.T) {
	m, err := ReadFile(refdata.Path(t, "person_detect.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Description != "TOCO Converted." {
		t.Errorf("description %q", m.Description)
	}
	s := Summarize(m)
	want := map[string]int{"CONV_2D": 14, "DEPTHWISE_CONV_2D": 14, "AVERAGE_POOL_2D": 1, "RESHAPE": 1, "SOFTMAX": 1}
	for op, n := range want {
		if s.OpCounts[op] != n {
			t.Errorf("%s count %d, want %d", op, s.OpCounts[op], n)
		}
	}
	if len(s.OpCounts) != len(want) || len(m.Operators) != 31 {
		t.Errorf("op counts %v (%d operators)", s.OpCounts, len(m.Operators))
	}
	first := m.Operators[0]
	o, ok := first.Options.(*DepthwiseConv2DOptions)
	if first.Op != OpDepthwiseConv2D || !ok || o.DepthMultiplier != 8 {
		t.Errorf("first operator %v %+v, want DEPTHWISE_CONV_2D with depth_multiplier 8", first.Op, first.Options)
	}
	for i, op := range m.Operators[1:] {
		if o, ok := op.Options.(*DepthwiseConv2DOptions); ok && o.DepthMultiplier != 1 {
			t.Errorf("operator %d depth multiplier %d", i+1, o.DepthMultiplier)
		}
	}
	checkIO := func(what string, tn *Tensor, shape []int32, scale float64, zp int64) {
		t.Helper()
		if tn.Type != Int8 || !equalShape(tn.Shape, shape) {
			t.Errorf("%s: %v %v, want int8 %v", what, tn.Type, tn.Shape, shape)
		}
		if tn.Quant == nil || len(tn.Quant.Scale) != 1 {
			t.Fatalf("%s: quantization %+v", what, tn.Quant)
		}
		if math.Abs(float64(tn.Quant.Scale[0])-scale) > 1e-6 || tn.Quant.ZeroPoint[0] != zp {
			t.Errorf("%s: scale %v zp %d, want %v %d", what, tn.Quant.Scale[0], tn.Quant.ZeroPoint[0], scale, zp)
		}
	}
	checkIO("input", m.Input(0), []int32{1, 96, 96, 1}, 0.007843, -1)
	checkIO("output", m.Output(0), []int32{1, 2}, 1.0/256, -128)
	// The TOCO quirk: 1-D per-channel depthwise biases with axis 3, kept.
	bias := &m.Tensors[first.Inputs[2]]
	if bias.Quant == nil || bias.Quant.Axis != 3 || len(bias.Shape) != 1 || len(bias.Quant.Scale) != 8 {
		t.Errorf("first depthwise bias %v quant %+v, want 1-D with 8 scales and axis 3", bias.Shape, bias.Quant)
	}
	// MobileNetV1 0.25 at 96x96x1, computed from the architecture alone:
	// depthwise stem (mult 8), 13 depthwise-separable blocks, 1x1 classifier.
	var macs int64
	hw := int64(48)
	macs += hw * hw * 8 * 9
	ch := []int64{8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256}
	strides := []int64{1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1}
	for i, s := range strides {
		hw = (hw + s - 1) / s
		macs += hw * hw * ch[i] * 9       // depthwise 3x3
		macs += hw * hw * ch[i] * ch[i+1] // pointwise
	}
	macs += 256 * 2
	if s.MACs != macs {
		t.Errorf("MACs %d, want %d", s.MACs, macs)
	}
}

func equalShape(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadRealModels(t *testing.T) {
	tests := []struct {
		file      string
		ops       map[string]int
		in, out   []int32
		desc      string
		opVersion map[Opcode]int32
	}{
		{"hello_world_int8.tflite", map[string]int{"FULLY_CONNECTED": 3}, []int32{1, 1}, []int32{1, 1}, "MLIR Converted.", nil},
		{"mobilenet_v2_quantized_1x3x224x224.tflite",
			map[string]int{"TRANSPOSE": 1, "PAD": 18, "CONV_2D": 35, "DEPTHWISE_CONV_2D": 17, "ADD": 10, "MEAN": 1, "RESHAPE": 1, "FULLY_CONNECTED": 1},
			[]int32{1, 3, 224, 224}, []int32{1, 1000}, "TinyNeuralNetwork Converted.", nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Read(realFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s := Summarize(m)
			for op, n := range tc.ops {
				if s.OpCounts[op] != n {
					t.Errorf("%s count %d, want %d (all: %v)", op, s.OpCounts[op], n, s.OpCounts)
				}
			}
			if len(s.OpCounts) != len(tc.ops) {
				t.Errorf("op kinds %v", s.OpCounts)
			}
			if !equalShape(m.Input(0).Shape, tc.in) || !equalShape(m.Output(0).Shape, tc.out) {
				t.Errorf("io shapes %v -> %v", m.Input(0).Shape, m.Output(0).Shape)
			}
			if m.Description != tc.desc {
				t.Errorf("description %q", m.Description)
			}
		})
	}
}

// TestOpcodeFields checks TFLite's rule for the two opcode fields: the code
// is the larger one, 127 in the byte defers to builtin_code.
func TestOpcodeFields(t *testing.T) {
	tests := []struct {
		name         string
		dep, builtin int32
		setDep, setB bool
		want         Opcode
		wantErr      string
	}{
		{"deprecated only", 9, 0, true, false, OpFullyConnected, ""},
		{"both", 9, 9, true, true, OpFullyConnected, ""},
		{"builtin only", 0, 9, false, true, OpFullyConnected, ""},
		{"placeholder", 127, 150, true, true, Opcode(150), ""},
		{"custom", 32, 32, true, true, OpCustom, ""},
		{"unmodelled with wrong options", 41, 41, true, true, 0, "SUB has builtin options of union type 8, want 28"},
		{"unmodelled", 27, 27, true, true, Opcode(27), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := craftFC(tc.dep, tc.builtin, tc.setDep, tc.setB)
			m, err := Read(data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "operator 0") {
					t.Errorf("error %q does not name the operator index", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			op := m.Operators[0]
			if op.Op != tc.want {
				t.Errorf("op %v, want %v", op.Op, tc.want)
			}
			// Only FULLY_CONNECTED is modelled here; the others read with
			// what was left undecoded said.
			if unmodelled := tc.want != OpFullyConnected; unmodelled != (op.Undecoded != "") || (unmodelled && op.Options != nil) {
				t.Errorf("Undecoded %q, Options %v for %v", op.Undecoded, op.Options, op.Name())
			}
		})
	}
}

func TestReadStructuralErrors(t *testing.T) {
	valid, err := Write(testModel())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "too short"},
		{"short", []byte("1234TFL"), "too short"},
		{"identifier", append(append([]byte{}, valid[:4]...), append([]byte("TFL2"), valid[8:]...)...), "file identifier"},
		{"no subgraph", craftModel(craftOptions{subgraphs: -1}), "no subgraph"},
		{"schema version", craftModel(craftOptions{version: 2}), "schema version 2"},
		{"huge vector", craftModel(craftOptions{hugeShape: true}), "past the end of the file"},
		{"external buffer out of file", craftModel(craftOptions{extOffset: 1 << 40, extSize: 4}), "outside"},
		{"buffer index", craftModel(craftOptions{bufferIndex: 9}), "buffer index 9"},
		{"opcode index", craftModel(craftOptions{opcodeIndex: 5}), "opcode index 5"},
		{"options type", craftModel(craftOptions{optionsType: optConv2D}), "union type 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadExternalBuffer(t *testing.T) {
	// A buffer using offset/size (the >2 GB layout) inside the file reads.
	data := craftModel(craftOptions{extOffset: 8, extSize: 4})
	m, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Tensors[1]
	if string(w.Data) != string(data[8:12]) {
		t.Errorf("external data %v, want %v", w.Data, data[8:12])
	}
}

// TestMissingOptionsDefaults: an operator without an options table gets the
// identity configuration (strides, dilations, depth multiplier, beta 1).
func TestMissingOptionsDefaults(t *testing.T) {
	tests := []struct {
		op   Opcode
		want any
	}{
		{OpConv2D, &Conv2DOptions{StrideW: 1, StrideH: 1, DilationW: 1, DilationH: 1}},
		{OpDepthwiseConv2D, &DepthwiseConv2DOptions{StrideW: 1, StrideH: 1, DepthMultiplier: 1, DilationW: 1, DilationH: 1}},
		{OpMaxPool2D, &Pool2DOptions{StrideW: 1, StrideH: 1}},
		{OpSoftmax, &SoftmaxOptions{Beta: 1}},
		{OpFullyConnected, &FullyConnectedOptions{}},
		{OpAdd, &AddOptions{}},
		{OpReshape, &ReshapeOptions{}},
		{OpMean, &ReducerOptions{}},
		{OpTranspose, &TransposeOptions{}},
		{OpPad, nil},
		{OpLogistic, nil},
	}
	for _, tc := range tests {
		d := newDecoder(make([]byte, 16))
		got, err := d.decodeOptions(tc.op, optNone, table{})
		if err != nil {
			t.Fatalf("%v: %v", tc.op, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %+v, want %+v", tc.op, got, tc.want)
		}
	}
	// A wrong union type is an error naming both types.
	d := newDecoder(make([]byte, 16))
	if _, err := d.decodeOptions(OpConv2D, optPool2D, table{}); err == nil || !strings.Contains(err.Error(), "union type 5, want 1") {
		t.Errorf("wrong options type: %v", err)
	}
}
