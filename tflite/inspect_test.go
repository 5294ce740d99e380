package tflite

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestConvOutputSizeAndPadding(t *testing.T) {
	tests := []struct {
		in, filter, stride, dilation int
		pad                          Padding
		out, before, after           int
	}{
		{96, 3, 2, 1, PaddingSame, 48, 0, 1},    // even input, stride 2: extra pad goes after
		{97, 3, 2, 1, PaddingSame, 49, 1, 1},    // odd input
		{7, 3, 1, 1, PaddingSame, 7, 1, 1},      // 'same' keeps the size
		{7, 5, 1, 2, PaddingSame, 7, 4, 4},      // dilated 5x5 = effective 9
		{8, 1, 1, 1, PaddingSame, 8, 0, 0},      // pointwise
		{3, 3, 2, 1, PaddingValid, 1, 0, 0},     // person_detect's average pool
		{226, 3, 2, 1, PaddingValid, 112, 0, 0}, // mobilenet_v2 stem after PAD
		{114, 3, 1, 1, PaddingValid, 112, 0, 0},
		{7, 5, 1, 2, PaddingValid, 0, 0, 0}, // window larger than input
		{8, 3, 0, 1, PaddingSame, 0, 0, 0},  // invalid stride
		{1, 3, 1, 1, PaddingSame, 1, 1, 1},
		{5, 2, 3, 1, PaddingSame, 2, 0, 0},  // total padding negative: none
		{6, 2, 2, 1, PaddingSame, 3, 0, 0},  // exact fit
		{10, 4, 3, 1, PaddingSame, 4, 1, 2}, // total 3: 1 before, 2 after
	}
	for _, tc := range tests {
		got := ConvOutputSize(tc.in, tc.filter, tc.stride, tc.dilation, tc.pad)
		b, a := ComputePadding(tc.in, tc.filter, tc.stride, tc.dilation, tc.pad)
		if got != tc.out || b != tc.before || a != tc.after {
			t.Errorf("in %d filter %d stride %d dilation %d %v: out %d pad (%d,%d), want %d (%d,%d)",
				tc.in, tc.filter, tc.stride, tc.dilation, tc.pad, got, b, a, tc.out, tc.before, tc.after)
		}
	}
}

// TestRealShapesMatchOutputSize checks the helper against the shapes the
// converters wrote for every convolution and pooling in the real models.
func TestRealShapesMatchOutputSize(t *testing.T) {
	for _, name := range realModels {
		m, err := Read(realFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for i, op := range m.Operators {
			in, out := m.Tensors[op.Inputs[0]].Shape, m.Tensors[op.Outputs[0]].Shape
			var kh, kw, sh, sw, dh, dw int32
			var pad Padding
			switch o := op.Options.(type) {
			case *Conv2DOptions:
				f := m.Tensors[op.Inputs[1]].Shape
				kh, kw, sh, sw, dh, dw, pad = f[1], f[2], o.StrideH, o.StrideW, o.DilationH, o.DilationW, o.Padding
			case *DepthwiseConv2DOptions:
				f := m.Tensors[op.Inputs[1]].Shape
				kh, kw, sh, sw, dh, dw, pad = f[1], f[2], o.StrideH, o.StrideW, o.DilationH, o.DilationW, o.Padding
			case *Pool2DOptions:
				kh, kw, sh, sw, dh, dw, pad = o.FilterHeight, o.FilterWidth, o.StrideH, o.StrideW, 1, 1, o.Padding
			default:
				continue
			}
			h := ConvOutputSize(int(in[1]), int(kh), int(sh), int(dh), pad)
			w := ConvOutputSize(int(in[2]), int(kw), int(sw), int(dw), pad)
			if h != int(out[1]) || w != int(out[2]) {
				t.Errorf("%s op %d %v: computed %dx%d, file says %v", name, i, op.Op, h, w, out)
			}
		}
	}
}

func TestMACsAndParams(t *testing.T) {
	m := testModel()
	// Conv 3x3x3 -> 8 at 4x4; depthwise 3x3 on 8 channels at 4x4; FC 8 -> 10.
	wantMACs := map[int]int64{tmConv: 4 * 4 * 8 * 3 * 3 * 3, tmDW: 4 * 4 * 8 * 3 * 3, tmFC: 8 * 10, tmAdd: 0, tmMaxPool: 0}
	wantParams := map[int]int64{tmConv: 8*27 + 8, tmDW: 72, tmFC: 80 + 10, tmAdd: 0}
	for i, want := range wantMACs {
		if got := m.MACs(i); got != want {
			t.Errorf("operator %d (%v) MACs %d, want %d", i, m.Operators[i].Op, got, want)
		}
	}
	for i, want := range wantParams {
		if got := m.Params(i); got != want {
			t.Errorf("operator %d (%v) params %d, want %d", i, m.Operators[i].Op, got, want)
		}
	}
	s := Summarize(m)
	if s.MACs != 3456+1152+80 || s.Params != 224+72+90 {
		t.Errorf("totals: %d MACs %d params", s.MACs, s.Params)
	}
	if s.Operators[tmMaxPool].OutputElements != 2*2*8 {
		t.Errorf("max pool output elements %d", s.Operators[tmMaxPool].OutputElements)
	}
	if got := s.Operators[tmDW].InputShapes[2]; got != nil || s.Operators[tmDW].InputTypes[2] != "" {
		t.Errorf("omitted bias summarized as %v", got)
	}
	// Grouped convolution: a filter with in_c/groups channels.
	g := testModel()
	g.Tensors[tmConvW].Shape = []int32{8, 3, 3, 1}
	if got := g.MACs(tmConv); got != 4*4*8*3*3*1 {
		t.Errorf("grouped conv MACs %d", got)
	}
	if m.MACs(-1) != 0 || OpMACs(m, 999) != 0 || m.Params(999) != 0 {
		t.Error("out-of-range operator has a cost")
	}
}

func TestSummaryOutput(t *testing.T) {
	m, err := Read(realFile(t, "hello_world_int8.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(m)
	// Three FCs: 1->16, 16->16, 16->1.
	if s.MACs != 16+256+16 || s.Params != 32+272+17 {
		t.Errorf("hello_world totals %d MACs %d params", s.MACs, s.Params)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{"FULLY_CONNECTED", "MLIR Converted.", "s=0.02448 zp=-128", "total: 288 MACs"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.MACs != s.MACs || len(back.Operators) != 3 || back.Operators[1].Op != "FULLY_CONNECTED" {
		t.Errorf("JSON round trip: %+v", back)
	}
}

// TestSummarizeInvalid: Summarize describes even a model that fails
// Validate (inspect is how one finds out what is wrong) without panicking.
func TestSummarizeInvalid(t *testing.T) {
	m := testModel()
	m.Operators[tmConv].Inputs = []int{99, -7}
	m.Operators[tmFC].Outputs = nil
	m.Tensors[tmConvW].Shape = nil
	m.Inputs = []int{-1}
	s := Summarize(m)
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if s.Operators[tmConv].MACs != 0 {
		t.Errorf("conv with missing tensors has %d MACs", s.Operators[tmConv].MACs)
	}
}
