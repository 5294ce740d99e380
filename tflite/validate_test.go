package tflite

import (
	"strings"
	"testing"
)

// Operator and tensor indices in testModel, named for the mutations below.
const (
	tmConv     = 3  // operators: CONV_2D
	tmDW       = 4  // DEPTHWISE_CONV_2D
	tmAdd      = 6  // ADD
	tmMaxPool  = 9  // MAX_POOL_2D
	tmFC       = 12 // FULLY_CONNECTED
	tmSoftmax  = 14 // SOFTMAX
	tmConvW    = 6  // tensors: conv weights
	tmConvB    = 7  // conv bias
	tmInput    = 0  // graph input
	tmSoftmaxT = 23 // softmax output
)

func TestValidate(t *testing.T) {
	if err := testModel().Validate(); err != nil {
		t.Fatalf("test model invalid: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func(m *Model)
		wantErr string
	}{
		{"schema version", func(m *Model) { m.Version = 4 }, "schema version 4"},
		{"type outside the schema", func(m *Model) { m.Tensors[tmInput].Type = 60 }, "type 60 is not in the schema"},
		{"int4 data packs two per byte", func(m *Model) {
			w := &m.Tensors[tmConvW]
			w.Type, w.Data = Int4, w.Data[:(w.NumElements()+1)/2]
		}, ""},
		{"sparse data is not shape-sized", func(m *Model) {
			m.Tensors[tmConvW].Data, m.Tensors[tmConvW].Sparse = m.Tensors[tmConvW].Data[:3], true
		}, ""},
		{"negative dim", func(m *Model) { m.Tensors[tmInput].Shape[1] = -1 }, "dimension 1 is -1"},
		{"overflowing shape", func(m *Model) { m.Tensors[tmInput].Shape = []int32{1 << 30, 1 << 30, 1 << 30} }, "more than"},
		{"data size", func(m *Model) { m.Tensors[tmConvW].Data = m.Tensors[tmConvW].Data[1:] }, "constant data is"},
		{"scale/zp lengths", func(m *Model) { m.Tensors[tmConvW].Quant.ZeroPoint = m.Tensors[tmConvW].Quant.ZeroPoint[1:] }, "8 scales but 7 zero points"},
		{"per-channel size", func(m *Model) { m.Tensors[tmConvW].Quant.Axis = 3 }, "8 scales along dimension 3 of size 3"},
		{"per-channel axis", func(m *Model) { m.Tensors[tmConvW].Quant.Axis = 4 }, "rank-4"},
		{"1-D per-channel count", func(m *Model) {
			q := m.Tensors[tmConvB].Quant
			q.Axis, q.Scale, q.ZeroPoint = 3, q.Scale[:4], q.ZeroPoint[:4]
		}, "4 scales for a 1-D tensor of 8"},
		{"negative scale", func(m *Model) {
			m.Tensors[tmInput+2].Quant = &Quantization{Scale: []float32{-1}, ZeroPoint: []int64{0}}
		}, "scale 0 is -1"},
		{"zero point range", func(m *Model) { m.Tensors[tmSoftmaxT].Quant.ZeroPoint[0] = -129 }, "outside int8"},
		{"min/max lengths", func(m *Model) { m.Tensors[tmSoftmaxT].Quant.Max = nil }, "1 min values but 0 max"},
		{"graph input range", func(m *Model) { m.Inputs = []int{100} }, "graph input 0: tensor index 100"},
		{"graph input const", func(m *Model) { m.Inputs = []int{tmConvW} }, "is constant"},
		{"graph output range", func(m *Model) { m.Outputs = []int{-1} }, "graph output 0"},
		{"graph output not computed", func(m *Model) { m.Operators = m.Operators[:3] }, "never computed"},
		{"input count", func(m *Model) { m.Operators[tmAdd].Inputs = m.Operators[tmAdd].Inputs[:1] }, "1 inputs, want 2"},
		{"required input omitted", func(m *Model) { m.Operators[tmConv].Inputs[1] = -1 }, "input 1: tensor index -1"},
		{"optional input omitted", func(m *Model) { m.Operators[tmFC].Inputs[2] = -1 }, ""},
		{"input out of range", func(m *Model) { m.Operators[tmConv].Inputs[0] = 1000 }, "tensor index 1000 out of range"},
		{"use before compute", func(m *Model) { m.Operators[tmConv].Inputs[0] = m.Operators[tmAdd].Outputs[0] }, "not computed before use"},
		{"output twice", func(m *Model) { m.Operators[tmDW].Outputs[0] = m.Operators[tmConv].Outputs[0] }, "already"},
		{"output is const", func(m *Model) { m.Operators[tmConv].Outputs[0] = tmConvW }, "already"},
		{"two outputs", func(m *Model) { m.Operators[tmConv].Outputs = []int{9, 10} }, "2 outputs"},
		{"modelled op, wrong options", func(m *Model) { m.Operators[tmAdd].Op = OpSub }, "options of type *tflite.AddOptions"},
		{"unmodelled op", func(m *Model) { m.Operators[tmAdd].Op, m.Operators[tmAdd].Undecoded = 27, "SVDF" }, ""},
		{"unmodelled op omits input", func(m *Model) {
			m.Operators[tmAdd].Op, m.Operators[tmAdd].Undecoded = 27, "SVDF"
			m.Operators[tmAdd].Inputs[1] = -1
		}, ""},
		{"unmodelled op, bad index", func(m *Model) {
			m.Operators[tmAdd].Op, m.Operators[tmAdd].Undecoded = 27, "SVDF"
			m.Operators[tmAdd].Inputs[1] = 1000
		}, "tensor index 1000 out of range"},
		{"signature subgraph", func(m *Model) { m.Signatures = []Signature{{Key: "s", Subgraph: 3}} }, "subgraph index 3 out of range"},
		{"signature tensor", func(m *Model) {
			m.Signatures = []Signature{{Key: "s", Inputs: []SignatureTensor{{Name: "x", Tensor: 1000}}}}
		}, "\"x\": tensor index 1000 out of range"},
		{"subgraph operator", func(m *Model) {
			m.Subgraphs = []Subgraph{{Name: "body", Tensors: m.Tensors, Operators: m.Operators[:1], Inputs: []int{1000}}}
		}, "subgraph 1 (\"body\"): graph input 0: tensor index 1000"},
		{"custom op without code", func(m *Model) { m.Operators[tmAdd].Op, m.Operators[tmAdd].Undecoded = OpCustom, "x" }, "without a custom code"},
		{"options type", func(m *Model) { m.Operators[tmConv].Options = &AddOptions{} }, "do not match"},
		{"nil options", func(m *Model) { m.Operators[tmConv].Options = nil }, "do not match"},
		{"options on PAD", func(m *Model) { m.Operators[2].Options = &AddOptions{} }, "want none"},
		{"stride", func(m *Model) { m.Operators[tmConv].Options.(*Conv2DOptions).StrideW = 0 }, "stride 0x2"},
		{"dilation", func(m *Model) { m.Operators[tmDW].Options.(*DepthwiseConv2DOptions).DilationH = 0 }, "dilation"},
		{"depth multiplier", func(m *Model) { m.Operators[tmDW].Options.(*DepthwiseConv2DOptions).DepthMultiplier = 0 }, "depth multiplier 0"},
		{"padding", func(m *Model) { m.Operators[tmConv].Options.(*Conv2DOptions).Padding = 2 }, "padding(2)"},
		{"activation", func(m *Model) { m.Operators[tmAdd].Options.(*AddOptions).Activation = 5 }, "act(5)"},
		{"pool filter", func(m *Model) { m.Operators[tmMaxPool].Options.(*Pool2DOptions).FilterWidth = 0 }, "filter 0x2"},
		{"conv rank", func(m *Model) { m.Tensors[tmConvW].Shape = []int32{8, 27}; m.Tensors[tmConvW].Quant.Axis = 0 }, "input 1 has rank 2"},
		{"softmax beta", func(m *Model) {
			m.Operators[tmSoftmax].Options.(*SoftmaxOptions).Beta = float32(1) / float32(zero())
		}, "beta"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel()
			tc.mutate(m)
			err := m.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	var nilModel *Model
	if err := nilModel.Validate(); err == nil {
		t.Error("nil model validated")
	}
}

func zero() float64 { return 0 }

// TestTestModelIndices pins the index constants to testModel's layout.
func TestTestModelIndices(t *testing.T) {
	m := testModel()
	ops := map[int]Opcode{tmConv: OpConv2D, tmDW: OpDepthwiseConv2D, tmAdd: OpAdd, tmMaxPool: OpMaxPool2D, tmFC: OpFullyConnected, tmSoftmax: OpSoftmax}
	for i, op := range ops {
		if m.Operators[i].Op != op {
			t.Errorf("operator %d is %v, want %v", i, m.Operators[i].Op, op)
		}
	}
	names := map[int]string{tmConvW: "conv_w", tmConvB: "conv_b", tmInput: "input", tmSoftmaxT: "softmax"}
	for i, n := range names {
		if m.Tensors[i].Name != n {
			t.Errorf("tensor %d is %q, want %q", i, m.Tensors[i].Name, n)
		}
	}
}
