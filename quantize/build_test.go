package quantize

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"edgenas/space"
	"edgenas/tflite"
)

// mb is an MBConv layer at h x w x inC.
func mb(h, inC, outC, k, e, stride int, se, skip bool) space.Layer {
	oh := (h + stride - 1) / stride
	l := space.Layer{Kind: space.KindMBConv, InH: h, InW: h, InC: inC, OutH: oh, OutW: oh, OutC: outC,
		Kernel: k, Stride: stride, Expand: e, IDSkip: skip, Act: "relu6", Slot: 2}
	if se {
		l.SEChannels = max(1, inC/4)
	}
	return l
}

// layerCases cover every layer kind and MBConv variant.
var layerCases = []struct {
	name  string
	layer space.Layer
	ops   map[tflite.Opcode]int
}{
	{"stem", space.Layer{Kind: space.KindConv, InH: 28, InW: 28, InC: 1, OutH: 28, OutW: 28, OutC: 16, Kernel: 3, Stride: 1, Act: "relu6", Slot: -1},
		map[tflite.Opcode]int{tflite.OpConv2D: 1}},
	{"stem-s2", space.Layer{Kind: space.KindConv, InH: 15, InW: 15, InC: 3, OutH: 8, OutW: 8, OutC: 8, Kernel: 3, Stride: 2, Act: "relu6", Slot: -1},
		map[tflite.Opcode]int{tflite.OpConv2D: 1}},
	{"head", space.Layer{Kind: space.KindConv, InH: 4, InW: 4, InC: 16, OutH: 4, OutW: 4, OutC: 32, Kernel: 1, Stride: 1, Act: "relu6", Slot: -1},
		map[tflite.Opcode]int{tflite.OpConv2D: 1}},
	{"mb-e1", mb(14, 8, 8, 3, 1, 1, false, false),
		map[tflite.Opcode]int{tflite.OpDepthwiseConv2D: 1, tflite.OpConv2D: 1}},
	{"mb-k5e6-s2", mb(14, 8, 16, 5, 6, 2, false, false),
		map[tflite.Opcode]int{tflite.OpConv2D: 2, tflite.OpDepthwiseConv2D: 1}},
	{"mb-k3e3-res", mb(7, 16, 16, 3, 3, 1, false, true),
		map[tflite.Opcode]int{tflite.OpConv2D: 2, tflite.OpDepthwiseConv2D: 1, tflite.OpAdd: 1}},
	{"mb-k3e6-se-res", mb(7, 16, 16, 3, 6, 1, true, true),
		map[tflite.Opcode]int{tflite.OpConv2D: 4, tflite.OpDepthwiseConv2D: 1, tflite.OpAdd: 1,
			tflite.OpMean: 1, tflite.OpLogistic: 1, tflite.OpMul: 1}},
	{"mb-k5e3-se-s2", mb(9, 12, 20, 5, 3, 2, true, false),
		map[tflite.Opcode]int{tflite.OpConv2D: 4, tflite.OpDepthwiseConv2D: 1,
			tflite.OpMean: 1, tflite.OpLogistic: 1, tflite.OpMul: 1}},
	{"pool", space.Layer{Kind: space.KindPool, InH: 4, InW: 4, InC: 32, OutH: 1, OutW: 1, OutC: 32, Slot: -1},
		map[tflite.Opcode]int{tflite.OpMean: 1}},
	{"fc", space.Layer{Kind: space.KindFC, InH: 1, InW: 1, InC: 32, OutH: 1, OutW: 1, OutC: 10, Slot: -1},
		map[tflite.Opcode]int{tflite.OpFullyConnected: 1}},
}

func countOps(m *tflite.Model) map[tflite.Opcode]int {
	c := map[tflite.Opcode]int{}
	for _, op := range m.Operators {
		c[op.Op]++
	}
	return c
}

func sameCounts(a, b map[tflite.Opcode]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakeRanges gives every float activation a plausible range, so that
// quantization can be tested without running the graph.
func fakeRanges(m *tflite.Model) Ranges {
	r := Ranges{}
	for i, t := range m.Tensors {
		if !t.IsConst() && t.Type == tflite.Float32 {
			r[i] = Range{-2 - float32(i%3), 6}
		}
	}
	return r
}

func TestLayerModelsBuild(t *testing.T) {
	for _, tc := range layerCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := RandomNet([]space.Layer{tc.layer}, 1)
			if err != nil {
				t.Fatal(err)
			}
			fm, err := n.FloatModel()
			if err != nil {
				t.Fatal(err)
			}
			if got := countOps(fm); !sameCounts(got, tc.ops) {
				t.Errorf("float ops %v, want %v", got, tc.ops)
			}
			qm, err := Quantize(fm, fakeRanges(fm), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := qm.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := countOps(qm); !sameCounts(got, tc.ops) {
				t.Errorf("int8 ops %v, want %v", got, tc.ops)
			}
			checkInt8(t, qm)
			in, out := qm.Input(0), qm.Output(0)
			l := tc.layer
			if want := []int32{1, int32(l.InH), int32(l.InW), int32(l.InC)}; !equal32(in.Shape, want) {
				t.Errorf("input shape %v, want %v", in.Shape, want)
			}
			if out.NumElements() != l.OutH*l.OutW*l.OutC {
				t.Errorf("output shape %v, want %d elements", out.Shape, l.OutH*l.OutW*l.OutC)
			}
			if _, err := tflite.Write(qm); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func equal32(a, b []int32) bool {
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

// checkInt8 checks the int8 spec on a quantized model: activations int8
// per tensor, weights int8 symmetric (per channel for convolutions), int32
// biases at input_scale*weight_scale, fixed LOGISTIC/SOFTMAX output
// parameters, and the converter's operator versions.
func checkInt8(t *testing.T, m *tflite.Model) {
	t.Helper()
	wantVersion := map[tflite.Opcode]int32{tflite.OpConv2D: 3, tflite.OpDepthwiseConv2D: 3, tflite.OpAdd: 2,
		tflite.OpMul: 2, tflite.OpMean: 2, tflite.OpLogistic: 2, tflite.OpSoftmax: 2}
	for i, op := range m.Operators {
		in := &m.Tensors[op.Inputs[0]]
		out := &m.Tensors[op.Outputs[0]]
		if in.Type != tflite.Int8 || out.Type != tflite.Int8 || len(out.Quant.Scale) != 1 {
			t.Errorf("op %d %v: input %v output %v", i, op.Op, in.Type, out.Type)
			continue
		}
		want, ok := wantVersion[op.Op]
		if op.Op == tflite.OpFullyConnected {
			want, ok = 4, true
			if op.Options.(*tflite.FullyConnectedOptions).KeepNumDims {
				t.Errorf("op %d FULLY_CONNECTED with keep_num_dims, which several TFLite consumers reject", i)
			}
		}
		if ok && op.Version != want {
			t.Errorf("op %d %v version %d, want %d", i, op.Op, op.Version, want)
		}
		switch op.Op {
		case tflite.OpLogistic, tflite.OpSoftmax:
			if out.Quant.Scale[0] != 1.0/256 || out.Quant.ZeroPoint[0] != -128 {
				t.Errorf("op %d %v output quant %v/%v", i, op.Op, out.Quant.Scale, out.Quant.ZeroPoint)
			}
		case tflite.OpConv2D, tflite.OpDepthwiseConv2D, tflite.OpFullyConnected:
			w, b := &m.Tensors[op.Inputs[1]], &m.Tensors[op.Inputs[2]]
			axis, nch := int32(0), int(w.Shape[0])
			if op.Op == tflite.OpDepthwiseConv2D {
				axis, nch = 3, int(w.Shape[3])
			}
			if op.Op == tflite.OpFullyConnected {
				nch = 1
			}
			if w.Type != tflite.Int8 || len(w.Quant.Scale) != nch || w.Quant.Axis != axis {
				t.Errorf("op %d %v weights %v with %d scales axis %d, want %d along %d", i, op.Op, w.Type, len(w.Quant.Scale), w.Quant.Axis, nch, axis)
				continue
			}
			for _, v := range w.Data {
				if int8(v) == -128 {
					t.Errorf("op %d %v weight -128 outside the symmetric range", i, op.Op)
					break
				}
			}
			if b.Type != tflite.Int32 || len(b.Quant.Scale) != nch {
				t.Errorf("op %d %v bias %v with %d scales", i, op.Op, b.Type, len(b.Quant.Scale))
				continue
			}
			for c, s := range b.Quant.Scale {
				want := in.Quant.Scale[0] * w.Quant.Scale[c]
				if s != want || b.Quant.ZeroPoint[c] != 0 || w.Quant.ZeroPoint[c] != 0 {
					t.Errorf("op %d %v channel %d bias scale %v, want %v", i, op.Op, c, s, want)
					break
				}
			}
		}
	}
}

func TestArchOperators(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	for seed := uint64(0); seed < 6; seed++ {
		a := s.RandomSeed(seed)
		n, err := RandomNet(a.Layers(), seed)
		if err != nil {
			t.Fatal(err)
		}
		fm, err := n.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		var se, res, mbconv, convs int
		for _, l := range a.Layers() {
			if l.Kind == space.KindMBConv {
				mbconv++
				convs++ // project
				if l.Expand != 1 {
					convs++
				}
				if l.SE() {
					se++
				}
				if l.IDSkip {
					res++
				}
			}
		}
		want := map[tflite.Opcode]int{tflite.OpConv2D: convs + 2 + 2*se, tflite.OpDepthwiseConv2D: mbconv,
			tflite.OpFullyConnected: 1, tflite.OpMean: 1 + se}
		if se > 0 {
			want[tflite.OpLogistic], want[tflite.OpMul] = se, se
		}
		if res > 0 {
			want[tflite.OpAdd] = res
		}
		if got := countOps(fm); !sameCounts(got, want) {
			t.Errorf("%s: ops %v, want %v", a, got, want)
		}
		if out := fm.Output(0); !equal32(out.Shape, []int32{1, 10}) || out.Name != "fc" {
			t.Errorf("%s: output %q %v", a, out.Name, out.Shape)
		}
		qm, err := Quantize(fm, fakeRanges(fm), Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkInt8(t, qm)
	}
}

func TestTensorNames(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	a, err := s.Parse("k3e6+se,skip,k5e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3")
	if err != nil {
		t.Fatal(err)
	}
	n, err := RandomNet(a.Layers(), 3)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tt := range fm.Tensors {
		if names[tt.Name] {
			t.Errorf("duplicate tensor name %q", tt.Name)
		}
		names[tt.Name] = true
	}
	for _, want := range []string{"input", "stem/conv", "stem/conv/weights", "block1/dw", "slot0/expand", "slot0/dw",
		"slot0/se/mean", "slot0/se/reduce", "slot0/se/gate", "slot0/se/mul", "slot0/project", "slot2/add",
		"head/conv", "pool", "fc", "mean/axes"} {
		if !names[want] {
			t.Errorf("no tensor %q", want)
		}
	}
	for name := range names {
		if strings.HasPrefix(name, "slot1/") {
			t.Errorf("skip layer slot1 emitted tensor %q", name)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a := space.MustLookup("spnas-fmnist").RandomSeed(11)
	build := func(seed uint64) []byte {
		n, err := RandomNet(a.Layers(), seed)
		if err != nil {
			t.Fatal(err)
		}
		fm, err := n.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		qm, err := Quantize(fm, fakeRanges(fm), Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tflite.Write(qm)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1, b2, b3 := build(5), build(5), build(6)
	if !bytes.Equal(b1, b2) {
		t.Error("same seed gave different models")
	}
	if bytes.Equal(b1, b3) {
		t.Error("different seeds gave the same model")
	}
}

func TestActivationParams(t *testing.T) {
	tests := []struct {
		r     Range
		scale float32
		zp    int64
	}{
		{Range{0, 6}, 6.0 / 255, -128},
		{Range{-1, 1}, 2.0 / 255, -1},  // -128 + 127.5 rounds half away from zero
		{Range{1, 3}, 3.0 / 255, -128}, // widened to include 0
		{Range{-4, -1}, 4.0 / 255, 127},
		{Range{-2, 6}, 8.0 / 255, -64},
		{Range{0, 0}, 1.0 / 255, -128}, // degenerate: [0, 1]
	}
	for _, tc := range tests {
		s, zp, err := ActivationParams(tc.r)
		if err != nil {
			t.Fatalf("%v: %v", tc.r, err)
		}
		if math.Abs(float64(s-tc.scale)) > 1e-7 || zp != tc.zp {
			t.Errorf("%v: scale %v zp %d, want %v %d", tc.r, s, zp, tc.scale, tc.zp)
		}
		// Zero is exactly representable.
		if q := QuantizeValues([]float32{0}, s, zp); Dequantize(q, s, zp)[0] != 0 {
			t.Errorf("%v: 0 not representable", tc.r)
		}
	}
	for _, bad := range []Range{{2, 1}, {float32(math.NaN()), 1}, {0, float32(math.Inf(1))}} {
		if _, _, err := ActivationParams(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	n, err := RandomNet([]space.Layer{layerCases[6].layer}, 1)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	r := fakeRanges(fm)
	delete(r, fm.Outputs[0])
	if _, err := Quantize(fm, r, Options{}); err == nil || !strings.Contains(err.Error(), "slot2/add") {
		t.Errorf("missing range: error %v, want one naming slot2/add", err)
	}
	if _, err := Quantize(&tflite.Model{Inputs: []int{3}}, nil, Options{}); err == nil {
		t.Error("broken model: no error")
	}
}

func TestNetErrors(t *testing.T) {
	stem := layerCases[0].layer
	tests := []struct {
		name   string
		layers []space.Layer
		want   string
	}{
		{"empty", nil, "no layers"},
		{"chain", []space.Layer{stem, layerCases[5].layer}, "previous layer gives"},
		{"act", []space.Layer{func() space.Layer { l := stem; l.Act = "gelu"; return l }()}, "gelu"},
		{"size", []space.Layer{func() space.Layer { l := stem; l.OutH = 14; return l }()}, "SAME"},
		{"kind", []space.Layer{{Kind: "lstm", InH: 1, InW: 1, InC: 1, OutH: 1, OutW: 1, OutC: 1}}, "unknown layer kind"},
	}
	for _, tc := range tests {
		_, err := RandomNet(tc.layers, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	n, err := RandomNet([]space.Layer{stem}, 1)
	if err != nil {
		t.Fatal(err)
	}
	n.Layers[0].Conv.B = n.Layers[0].Conv.B[:3]
	if _, err := n.FloatModel(); err == nil || !strings.Contains(err.Error(), "biases") {
		t.Errorf("short bias: error %v", err)
	}
}
