package ref_test

import (
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

func TestBackendName(t *testing.T) {
	if got := (ref.Backend{}).Name(); got != "ref" {
		t.Errorf("Name() = %q", got)
	}
}

func convModel() *tflite.Model {
	g := runtimetest.NewGraph(1)
	g.Conv2D(in(g, 6, 6, 4), runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, Padding: tflite.PaddingSame})
	return g.Model()
}

func TestNewKernelErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *tflite.Model)
		op     int
		want   string
	}{
		{"operator index", func(*tflite.Model) {}, 5, "operator 5: out of range"},
		{"unsupported operator", func(m *tflite.Model) { m.Operators[0].Op = tflite.Opcode(99) }, 0, "not supported"},
		{"unmodelled operator", func(m *tflite.Model) {
			m.Operators[0].Op, m.Operators[0].Undecoded = 27, "SVDF is not modelled by edgenas"
		}, 0, "operator 0 (SVDF): SVDF is not modelled"},
		{"sparse weights", func(m *tflite.Model) { m.Tensors[m.Operators[0].Inputs[1]].Sparse = true }, 0, "is stored sparse"},
		{"wrong output shape", func(m *tflite.Model) { m.Tensors[m.Outputs[0]].Shape[1] = 5 }, 0, "output shape"},
		{"options type", func(m *tflite.Model) { m.Operators[0].Options = &tflite.AddOptions{} }, 0, "options"},
		{"mixed types", func(m *tflite.Model) { m.Tensors[m.Outputs[0]].Type = tflite.Float32 }, 0, "supported are all float32 or all int8"},
		{"missing quantization", func(m *tflite.Model) { m.Tensors[m.Inputs[0]].Quant = nil }, 0, "no quantization"},
		{"tanh activation", func(m *tflite.Model) { m.Operators[0].Options.(*tflite.Conv2DOptions).Activation = tflite.ActTanh }, 0, "fused activation"},
		{"non-constant filter", func(m *tflite.Model) { m.Tensors[m.Operators[0].Inputs[1]].Data = nil }, 0, "filter must be constant"},
		{"input index", func(m *tflite.Model) { m.Operators[0].Inputs[0] = 99 }, 0, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := convModel()
			c.mutate(m)
			_, err := ref.NewKernel(m, c.op)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if c.op == 0 && !strings.Contains(err.Error(), "operator 0") {
				t.Errorf("error %q does not name the operator", err)
			}
		})
	}
}

func TestEvalShortBuffers(t *testing.T) {
	m := convModel()
	k, err := ref.NewKernel(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, len(m.Tensors))
	for i := range m.Tensors {
		bufs[i] = append([]byte(nil), m.Tensors[i].Data...)
		if bufs[i] == nil {
			bufs[i] = make([]byte, m.Tensors[i].Bytes())
		}
	}
	if err := k.Eval(bufs); err != nil {
		t.Fatal(err)
	}
	bufs[m.Outputs[0]] = bufs[m.Outputs[0]][:10]
	if err := k.Eval(bufs); err == nil {
		t.Error("Eval with a short output buffer succeeded")
	}
	if err := k.Eval(bufs[:1]); err == nil {
		t.Error("Eval with too few buffers succeeded")
	}
}

func TestInterpreter(t *testing.T) {
	m := convModel()
	if _, err := (ref.Backend{}).Load(nil, runtime.Options{}); err == nil {
		t.Error("Load(nil) succeeded")
	}
	bad := *m
	bad.Inputs = []int{99}
	if _, err := (ref.Backend{}).Load(&bad, runtime.Options{}); err == nil {
		t.Error("Load of an invalid model succeeded")
	}
	it, err := ref.Backend{}.Load(m, runtime.Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	if it.Model() != m {
		t.Error("Model() is not the loaded model")
	}
	if err := it.SetInput(0, make([]byte, 3)); err == nil {
		t.Error("SetInput with the wrong size succeeded")
	}
	if err := it.SetInput(1, nil); err == nil {
		t.Error("SetInput of a missing input succeeded")
	}
	in := runtimetest.RandomInputs(m, 1)
	if err := it.SetInput(0, in[0]); err != nil {
		t.Fatal(err)
	}
	if err := it.Invoke(); err != nil {
		t.Fatal(err)
	}
	out := it.Output(0)
	out[0]++ // Output returns a copy
	if it.Output(0)[0] == out[0] {
		t.Error("Output does not return a copy")
	}
	if it.Output(1) != nil {
		t.Error("Output(1) of a one-output model is not nil")
	}
	p := it.Profile()
	if len(p) != 1 || p[0].Name != "CONV_2D" || p[0].Backend != "ref" || p[0].Count != 1 {
		t.Errorf("profile %+v", p)
	}
	it.ResetProfile()
	if p := it.Profile(); p[0].Count != 0 || p[0].Total != 0 {
		t.Errorf("profile after reset %+v", p)
	}
	// Steady-state Invoke does not allocate (profiling included).
	if n := testing.AllocsPerRun(10, func() { it.Invoke() }); n != 0 {
		t.Errorf("Invoke allocates %v times", n)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := it.Invoke(); err == nil {
		t.Error("Invoke after Close succeeded")
	}
}

// TestNoAllocations checks every kernel kind in the steady state.
func TestNoAllocations(t *testing.T) {
	for i, c := range opCases {
		g := runtimetest.NewGraph(uint64(i))
		c.build(g)
		m := g.Model()
		it, err := ref.Backend{}.Load(m, runtime.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for j, b := range runtimetest.RandomInputs(m, 1) {
			if err := it.SetInput(j, b); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(5, func() { it.Invoke() }); n != 0 {
			t.Errorf("%s: Invoke allocates %v times", c.name, n)
		}
		it.Close()
	}
}

func benchModel(b *testing.B, m *tflite.Model) {
	it, err := ref.Backend{}.Load(m, runtime.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	for j, in := range runtimetest.RandomInputs(m, 1) {
		if err := it.SetInput(j, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
}

// conv1x1 is a MobileNetV2-style pointwise expansion, 28x28x32 -> 192.
func conv1x1() *tflite.Model {
	g := runtimetest.NewGraph(1)
	g.Conv2D(g.Input([]int32{1, 28, 28, 32}, runtimetest.Quant{Scale: 0.05}), runtimetest.ConvSpec{OutChannels: 192, KernelH: 1, KernelW: 1, Activation: tflite.ActRelu6})
	return g.Model()
}

// BenchmarkConv1x1 reports int8 and float32 throughput (MAC/s) of a 1x1 conv.
func BenchmarkConv1x1(b *testing.B) {
	const macs = 28 * 28 * 32 * 192
	for _, float := range []bool{false, true} {
		name := "int8"
		m := conv1x1()
		if float {
			name, m = "float32", runtimetest.DequantizedModel(m)
		}
		b.Run(name, func(b *testing.B) {
			benchModel(b, m)
			b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkDepthwise3x3 is a 56x56x144 depthwise layer.
func BenchmarkDepthwise3x3(b *testing.B) {
	g := runtimetest.NewGraph(1)
	g.DepthwiseConv2D(g.Input([]int32{1, 56, 56, 144}, runtimetest.Quant{Scale: 0.05}), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Padding: tflite.PaddingSame})
	benchModel(b, g.Model())
}
