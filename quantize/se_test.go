package quantize

import (
	"testing"

	"edgenas/space"
	"edgenas/tflite"
)

// TestSEEncoding checks that squeeze-and-excitation is written the way
// TFLite's converter writes a Keras SE block (space.SEEncoding): MEAN with
// keep_dims, two 1x1 CONV_2D on the [1,1,1,C] squeeze (RELU, then none),
// LOGISTIC, MUL; no FULLY_CONNECTED with keep_num_dims anywhere; int8
// operators at the converter's versions.
func TestSEEncoding(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	allSE := make([]space.Choice, s.NumSearchable())
	for i := range allSE {
		allSE[i] = space.Choice{Kernel: 3 + 2*(i%2), Expand: 3 + 3*(i%2), SE: true}
	}
	a := space.Arch{Space: s, Choices: allSE}
	models := []struct {
		name  string
		build func() (*tflite.Model, error)
	}{
		{name: "arch all +se", build: func() (*tflite.Model, error) { return ArchModel(a, 5) }},
		{name: "layer k5e3+se s2", build: func() (*tflite.Model, error) { return LayerModel(mb(9, 12, 20, 5, 3, 2, true, false), 2) }},
		{name: "random arch seed 3", build: func() (*tflite.Model, error) { return ArchModel(s.RandomSeed(3), 3) }},
	}
	for _, tc := range models {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			blocks := 0
			for i, op := range m.Operators {
				if o, ok := op.Options.(*tflite.FullyConnectedOptions); ok && o.KeepNumDims {
					t.Errorf("op %d: FULLY_CONNECTED with keep_num_dims", i)
				}
				if op.Op != tflite.OpMean || m.Tensors[op.Outputs[0]].Name == "pool" {
					continue
				}
				blocks++
				checkSEBlock(t, m, i)
			}
			if blocks == 0 {
				t.Fatal("no SE block in the model")
			}
		})
	}
}

// checkSEBlock checks the five operators of the SE block starting at MEAN i.
func checkSEBlock(t *testing.T, m *tflite.Model, i int) {
	t.Helper()
	want := []struct {
		op  tflite.Opcode
		act tflite.Activation
		ver int32
	}{
		{op: tflite.OpMean, ver: 2}, {op: tflite.OpConv2D, act: tflite.ActRelu, ver: 3},
		{op: tflite.OpConv2D, act: tflite.ActNone, ver: 3}, {op: tflite.OpLogistic, ver: 2}, {op: tflite.OpMul, ver: 2},
	}
	if i+len(want) > len(m.Operators) {
		t.Fatalf("SE block at op %d runs past the graph", i)
	}
	for k, w := range want {
		op := &m.Operators[i+k]
		if op.Op != w.op || op.Version != w.ver {
			t.Errorf("op %d: %v v%d, want %v v%d", i+k, op.Op, op.Version, w.op, w.ver)
			continue
		}
		out := m.Tensors[op.Outputs[0]].Shape
		switch op.Op {
		case tflite.OpMean:
			if !op.Options.(*tflite.ReducerOptions).KeepDims || len(out) != 4 || out[1] != 1 || out[2] != 1 {
				t.Errorf("op %d MEAN output %v, want keep_dims [1,1,1,C]", i+k, out)
			}
		case tflite.OpConv2D:
			o := op.Options.(*tflite.Conv2DOptions)
			f := m.Tensors[op.Inputs[1]]
			if o.Activation != w.act || len(f.Shape) != 4 || f.Shape[1] != 1 || f.Shape[2] != 1 || !f.Quant.PerChannel() {
				t.Errorf("op %d CONV_2D %v filter %v per-channel %v, want %v 1x1 per-channel", i+k, o.Activation, f.Shape, f.Quant.PerChannel(), w.act)
			}
			if len(out) != 4 || out[1] != 1 || out[2] != 1 {
				t.Errorf("op %d CONV_2D output %v, want [1,1,1,C]", i+k, out)
			}
		}
	}
}
