package runtimetest_test

import (
	"encoding/binary"
	"math"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

func TestBuiltModelsValidateAndRoundTrip(t *testing.T) {
	g := runtimetest.NewGraph(1)
	x := g.Input([]int32{1, 8, 8, 4}, runtimetest.Quant{Scale: 0.05, ZeroPoint: -3})
	y := g.Conv2D(x, runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Padding: tflite.PaddingSame})
	y = g.DepthwiseConv2D(y, runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Padding: tflite.PaddingSame, Activation: tflite.ActRelu6})
	y = g.HardSwish(y, runtimetest.Quant{})
	y = g.SqueezeExcite(y, 2, false)
	y = g.Mean(y, []int32{1, 2}, false, runtimetest.Quant{})
	y = g.FullyConnected(y, 5, tflite.ActNone, runtimetest.Quant{}, false)
	g.Softmax(y, 1)
	m := g.Model()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := tflite.Write(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tflite.Read(data); err != nil {
		t.Fatal(err)
	}
	want := map[tflite.Opcode]int32{tflite.OpConv2D: 3, tflite.OpDepthwiseConv2D: 3, tflite.OpFullyConnected: 4,
		tflite.OpMean: 2, tflite.OpSoftmax: 2, tflite.OpLogistic: 2, tflite.OpMul: 2, tflite.OpHardSwish: 1}
	for i, o := range m.Operators {
		if v, ok := want[o.Op]; ok && o.Version != v {
			t.Errorf("operator %d %v: version %d, want %d", i, o.Op, o.Version, v)
		}
	}
	// Weights are symmetric per channel on the documented axes; biases use
	// in_scale*w_scale with zero point 0.
	conv := m.Operators[0]
	w, b := m.Tensors[conv.Inputs[1]], m.Tensors[conv.Inputs[2]]
	if len(w.Quant.Scale) != 8 || w.Quant.Axis != 0 || b.Type != tflite.Int32 {
		t.Fatalf("conv weights %+v bias %v", w.Quant, b.Type)
	}
	for c, s := range b.Quant.Scale {
		if math.Abs(float64(s)-float64(0.05*w.Quant.Scale[c])) > 1e-9 || b.Quant.ZeroPoint[c] != 0 {
			t.Errorf("bias channel %d: scale %v zp %d", c, s, b.Quant.ZeroPoint[c])
		}
	}
	if dw := m.Tensors[m.Operators[1].Inputs[1]]; dw.Quant.Axis != 3 || len(dw.Quant.Scale) != 8 {
		t.Errorf("depthwise weights %+v", dw.Quant)
	}
}

func TestDequantizedModel(t *testing.T) {
	g := runtimetest.NewGraph(2)
	x := g.FloatInput([]int32{1, 4, 4, 2})
	q := g.Quantize(x, runtimetest.Quant{Scale: 0.1, ZeroPoint: 1})
	c := g.Conv2D(q, runtimetest.ConvSpec{OutChannels: 3, KernelH: 1, KernelW: 1})
	g.Dequantize(c)
	m := g.Model()
	fm := runtimetest.DequantizedModel(m)
	if err := fm.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, tt := range fm.Tensors {
		if tt.Type == tflite.Int8 {
			t.Errorf("tensor %d still int8", i)
		}
	}
	if fm.Operators[0].Op != tflite.OpReshape || fm.Operators[2].Op != tflite.OpReshape {
		t.Errorf("QUANTIZE/DEQUANTIZE not replaced: %v %v", fm.Operators[0].Op, fm.Operators[2].Op)
	}
	conv := m.Operators[1]
	w, fw := m.Tensors[conv.Inputs[1]], fm.Tensors[conv.Inputs[1]]
	for i := range w.Data {
		ch := i / 2 // [3,1,1,2]: channel = i / 2
		want := float32(float64(w.Quant.Scale[ch]) * float64(int8(w.Data[i])))
		if got := math.Float32frombits(binary.LittleEndian.Uint32(fm.Tensors[conv.Inputs[1]].Data[4*i:])); got != want {
			t.Errorf("weight %d = %v, want %v", i, got, want)
		}
	}
	if fw.Quant != nil {
		t.Error("float weights keep quantization")
	}
	if m.Tensors[conv.Inputs[1]].Type != tflite.Int8 {
		t.Error("DequantizedModel modified its argument")
	}
	// The checker: int8 model against its float self, through QUANTIZE and
	// DEQUANTIZE (errors measured in the int8 conv output's quanta).
	it, err := ref.Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	errs, err := runtimetest.Compare(it, runtimetest.RandomInputs(m, 3))
	if err != nil {
		t.Fatal(err)
	}
	if errs[0].Scale != m.Tensors[c].Quant.Scale[0] {
		t.Errorf("float output measured in scale %v, want the conv output's %v", errs[0].Scale, m.Tensors[c].Quant.Scale[0])
	}
	// QUANTIZE rounds by up to half an input quantum, which the 1x1 conv
	// carries into its output, plus the conv's own half quantum.
	if errs[0].MaxQuanta > 2 {
		t.Errorf("%v", errs[0])
	}
}
