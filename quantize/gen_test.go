package quantize

import (
	"math"
	"testing"
	"time"

	"edgenas/space"
	"edgenas/tflite"
)

func TestArchModelTiming(t *testing.T) {
	for _, name := range []string{"spnas-fmnist", "spnas-imagenet"} {
		if testing.Short() && name == "spnas-imagenet" {
			continue
		}
		s := space.MustLookup(name)
		a := s.Uniform(space.Choice{Kernel: 5, Expand: 6, SE: true})
		start := time.Now()
		m, err := ArchModel(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: %.0f MMACs, %d ops, generated in %v", name, a.Choices[0], float64(a.MACs())/1e6, len(m.Operators), time.Since(start))
	}
}

// TestFloatGraphByHand checks the float graph's semantics (padding, SE,
// residual) on inputs whose results are easy to count: all-ones weights,
// so a convolution output is the number of in-bounds taps times the
// channels.
func TestFloatGraphByHand(t *testing.T) {
	conv := space.Layer{Kind: space.KindConv, InH: 4, InW: 4, InC: 2, OutH: 2, OutW: 2, OutC: 3, Kernel: 3, Stride: 2, Act: "none", Slot: -1}
	n, err := NewNet([]space.Layer{conv})
	if err != nil {
		t.Fatal(err)
	}
	w := n.Layers[0].Conv
	for i := range w.W {
		w.W[i] = 1
	}
	w.B = []float32{0, 1, -1}
	fm, err := n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, 4*4*2)
	for i := range in {
		in[i] = 1
	}
	bufs, err := Trace(fm, nil, Float32Bytes(in))
	if err != nil {
		t.Fatal(err)
	}
	// SAME, stride 2 on 4 pixels pads 0 before and 1 after: output row 0
	// sees input rows 0-2 (3 taps), row 1 sees rows 2-3 (2 taps).
	taps := []float32{3 * 3, 3 * 2, 2 * 3, 2 * 2}
	got := Float32s(bufs[fm.Outputs[0]])
	for p, tp := range taps {
		for c, b := range w.B {
			if want := 2*tp + b; got[p*3+c] != want {
				t.Errorf("conv pixel %d channel %d = %v, want %v", p, c, got[p*3+c], want)
			}
		}
	}

	// MBConv k3e1 with SE and residual: depthwise all ones, SE gate with
	// zero weights and bias 0 is sigmoid(0) = 0.5, project sums channels.
	l := mb(3, 2, 2, 3, 1, 1, true, true)
	n, err = NewNet([]space.Layer{l})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Layers[0].Depthwise.W {
		n.Layers[0].Depthwise.W[i] = 1
	}
	for i := range n.Layers[0].Project.W {
		n.Layers[0].Project.W[i] = 1
	}
	fm, err = n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	in = []float32{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}
	bufs, err = Trace(fm, nil, Float32Bytes(in))
	if err != nil {
		t.Fatal(err)
	}
	got = Float32s(bufs[fm.Outputs[0]])
	tapCount := []float32{4, 6, 4, 6, 9, 6, 4, 6, 4}
	for p, tp := range tapCount {
		// depthwise (ReLU6): channel 0 = min(tp, 6), channel 1 = min(2tp, 6);
		// gate 0.5; project = sum of both; residual adds the input.
		proj := 0.5 * (min(tp, 6) + min(2*tp, 6))
		for c := 0; c < 2; c++ {
			if want := proj + in[2*p+c]; math.Abs(float64(got[2*p+c]-want)) > 1e-5 {
				t.Errorf("mbconv pixel %d channel %d = %v, want %v", p, c, got[2*p+c], want)
			}
		}
	}
}

// TestCalibrateMethods: percentile ranges are inside min/max ranges, and
// min/max covers every value of every sample.
func TestCalibrateMethods(t *testing.T) {
	a := space.MustLookup("spnas-fmnist").RandomSeed(2)
	n, err := RandomNet(a.Layers(), 2)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	samples := RandomInputs(fm, 3, 2, Range{-1, 1})
	mm, err := Calibrate(fm, samples, CalibOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := Calibrate(fm, samples, CalibOptions{Method: Percentile, Percentile: 99})
	if err != nil {
		t.Fatal(err)
	}
	acts := 0
	for i, tt := range fm.Tensors {
		if tt.IsConst() {
			continue
		}
		acts++
		r, p := mm[i], pc[i]
		if !(r.Min <= p.Min && p.Min <= p.Max && p.Max <= r.Max) {
			t.Errorf("tensor %q: percentile %v not inside min/max %v", tt.Name, p, r)
		}
		if r.Max-r.Min <= 0 {
			t.Errorf("tensor %q: degenerate range %v", tt.Name, r)
		}
	}
	if len(mm) != acts || len(pc) != acts {
		t.Errorf("%d and %d ranges for %d activations", len(mm), len(pc), acts)
	}
	for s := range samples {
		bufs, err := Trace(fm, nil, Float32Bytes(samples[s][0]))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range mm {
			lo, hi := minMax(Float32s(bufs[i]))
			if lo < r.Min || hi > r.Max {
				t.Errorf("sample %d tensor %q: values [%v,%v] outside calibrated %v", s, fm.Tensors[i].Name, lo, hi, r)
			}
		}
	}
	if _, err := Calibrate(fm, samples, CalibOptions{Method: Percentile, Percentile: 30}); err == nil {
		t.Error("percentile 30: no error")
	}
	if _, err := Calibrate(fm, nil, CalibOptions{}); err == nil {
		t.Error("no samples: no error")
	}
}

func TestPercentileRange(t *testing.T) {
	v := make([]float32, 10001)
	for i := range v {
		v[i] = float32(i) / 100 // 0..100
	}
	v[5000] = 1e6 // one outlier
	lo, hi := percentileRange(v, 99)
	if math.Abs(float64(lo-1)) > 0.02 || math.Abs(float64(hi-99)) > 0.02 {
		t.Errorf("99th percentile range [%v, %v]", lo, hi)
	}
	if hi >= 1e6 {
		t.Errorf("outlier not clipped: %v", hi)
	}
}

func TestFloatIO(t *testing.T) {
	n, err := RandomNet([]space.Layer{layerCases[6].layer}, 4)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := n.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	qm, err := Quantize(fm, fakeRanges(fm), Options{FloatIO: true})
	if err != nil {
		t.Fatal(err)
	}
	if qm.Input(0).Type != tflite.Float32 || qm.Output(0).Type != tflite.Float32 {
		t.Errorf("input %v output %v, want float32", qm.Input(0).Type, qm.Output(0).Type)
	}
	first, last := qm.Operators[0], qm.Operators[len(qm.Operators)-1]
	if first.Op != tflite.OpQuantize || last.Op != tflite.OpDequantize || first.Version != 1 || last.Version != 2 {
		t.Errorf("first %v v%d, last %v v%d", first.Op, first.Version, last.Op, last.Version)
	}
	if len(qm.Operators) != len(fm.Operators)+2 {
		t.Errorf("%d operators, want %d", len(qm.Operators), len(fm.Operators)+2)
	}
	if _, err := tflite.Write(qm); err != nil {
		t.Fatal(err)
	}
}

func TestFoldBatchNorm(t *testing.T) {
	// A CONV_2D [2,1,1,2] and a DEPTHWISE [1,1,1,2]: channel c scales by
	// gamma/sqrt(var+eps).
	conv := &Weights{Shape: []int32{2, 1, 1, 2}, W: []float32{1, 2, 3, 4}, B: []float32{1, 1}}
	dw := &Weights{Shape: []int32{1, 1, 1, 2}, W: []float32{1, 2}, B: []float32{1, 1}}
	g, b, mean, v := []float32{2, 1}, []float32{0.5, 0}, []float32{1, 3}, []float32{3, 3}
	for _, w := range []*Weights{conv, dw} {
		if err := w.FoldBatchNorm(g, b, mean, v, 1); err != nil {
			t.Fatal(err)
		}
	}
	if want := []float32{1, 2, 1.5, 2}; !equalF(conv.W, want) || !equalF(conv.B, []float32{0.5, -1}) {
		t.Errorf("conv folded to %v %v", conv.W, conv.B)
	}
	if !equalF(dw.W, []float32{1, 1}) || !equalF(dw.B, []float32{0.5, -1}) {
		t.Errorf("depthwise folded to %v %v", dw.W, dw.B)
	}
	if err := conv.FoldBatchNorm(g[:1], b, mean, v, 1); err == nil {
		t.Error("short gamma: no error")
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

// TestPipelineDeterministic: the whole generator (weights, calibration,
// quantization) gives byte-identical files for the same seed.
func TestPipelineDeterministic(t *testing.T) {
	a := space.MustLookup("spnas-fmnist").RandomSeed(21)
	var files [3][]byte
	for i, seed := range []uint64{8, 8, 9} {
		m, err := ArchModel(a, seed)
		if err != nil {
			t.Fatal(err)
		}
		if files[i], err = tflite.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if string(files[0]) != string(files[1]) {
		t.Error("ArchModel with the same seed gave different files")
	}
	if string(files[0]) == string(files[2]) {
		t.Error("ArchModel with different seeds gave the same file")
	}
}

// TestAllLayerModels builds the microbenchmark model of every layer key of
// the Fashion-MNIST space.
func TestAllLayerModels(t *testing.T) {
	start := time.Now()
	keys := space.MustLookup("spnas-fmnist").UniqueKeys()
	for _, l := range keys {
		m, err := LayerModel(l, 3)
		if err != nil {
			t.Fatalf("%s: %v", l.Key(), err)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", l.Key(), err)
		}
		if m.Description == "" || m.Input(0).Type != tflite.Int8 {
			t.Errorf("%s: description %q input %v", l.Key(), m.Description, m.Input(0).Type)
		}
	}
	t.Logf("%d layer models in %v", len(keys), time.Since(start))
	if _, err := LayerModel(space.Layer{Kind: space.KindSkip}, 1); err == nil {
		t.Error("skip layer: no error")
	}
	if _, err := ArchModel(space.Arch{}, 1); err == nil {
		t.Error("architecture without space: no error")
	}
}
