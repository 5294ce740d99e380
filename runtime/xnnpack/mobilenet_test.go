//go:build cgo

package xnnpack

import (
	"math/rand/v2"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/tflite"
)

// mobilenet_v2_quantized_1x3x224x224.tflite (another converter,
// TinyNeuralNetwork) starts with a TRANSPOSE from NCHW, which this XNNPACK
// has no node for; everything after it (PAD, CONV_2D, DEPTHWISE_CONV_2D,
// ADD, MEAN, RESHAPE, FULLY_CONNECTED) is XNNPACK's. mobileNetV2Body is the
// model from the transpose's output on: 83 operators in one partition.
func mobileNetV2Body(tb testing.TB) *tflite.Model {
	tb.Helper()
	m, err := tflite.ReadFile(refdata.Path(tb, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		tb.Fatal(err)
	}
	if m.Operators[0].Op != tflite.OpTranspose {
		tb.Fatalf("operator 0 is %v, want TRANSPOSE", m.Operators[0].Op)
	}
	body := *m
	body.Operators = m.Operators[1:]
	body.Inputs = []int{m.Operators[0].Outputs[0]}
	return &body
}

func TestMobileNetV2Placement(t *testing.T) {
	m, err := tflite.ReadFile(refdata.Path(t, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Operators {
		err := probe(m, i)
		if want := m.Operators[i].Op != tflite.OpTranspose; (err == nil) != want {
			t.Errorf("operator %d %v: accepted %v (%v), want %v", i, m.Operators[i].Op, err == nil, err, want)
		}
	}
}

// TestMobileNetV2Body runs the real 224x224 network body on XNNPACK and
// checks every layer against the float reference evaluated on the very
// int8 inputs XNNPACK gave that layer, so each operator is held to one
// quantum. (End to end, the rare one-quantum rounding differences of
// XNNPACK's requantization grow through 52 layers to a few quanta of the
// logits, which says nothing about any one operator.)
func TestMobileNetV2Body(t *testing.T) {
	if testing.Short() {
		t.Skip("float reference of a 300 M MAC network")
	}
	m := mobileNetV2Body(t)
	in := randomInputs(m, rand.New(rand.NewPCG(9, 9)))
	checkLayers(t, m, in, 1)
}

// checkLayers runs m on XNNPACK with every operator's output made a graph
// output, then recomputes each operator with the float reference from the
// int8 tensors XNNPACK produced and fails on any operator more than tol
// quanta away.
func checkLayers(t *testing.T, m *tflite.Model, inputs [][]byte, tol int) {
	t.Helper()
	all := *m
	all.Outputs = nil
	for _, op := range m.Operators {
		all.Outputs = append(all.Outputs, op.Outputs[0])
	}
	outs := run(t, &all, 2, inputs)
	raw := map[int][]byte{}
	for k, ti := range m.Inputs {
		raw[ti] = inputs[k]
	}
	for k, ti := range all.Outputs {
		raw[ti] = outs[k]
	}
	differ := 0
	for k := range m.Operators {
		op := &m.Operators[k]
		vals := make([][]float64, len(m.Tensors))
		for _, ti := range op.Inputs {
			if ti < 0 {
				continue
			}
			tt := &m.Tensors[ti]
			if tt.IsConst() {
				vals[ti] = dequant(tt, tt.Data)
			} else {
				vals[ti] = dequant(tt, raw[ti])
			}
		}
		v, err := evalFloat(m, op, vals)
		if err != nil {
			t.Fatalf("operator %d: %v", k, err)
		}
		got, want := raw[op.Outputs[0]], quantize(&m.Tensors[op.Outputs[0]], v)
		if d := maxDiff(got, want); d > tol {
			t.Errorf("operator %d %v: %d quanta from the float reference (tolerance %d)", k, op.Op, d, tol)
		} else if d > 0 {
			differ++
		}
	}
	t.Logf("%d operators, %d of them off by at most %d quantum somewhere", len(m.Operators), differ, tol)
}

func BenchmarkMobileNetV2Body(b *testing.B) {
	m := mobileNetV2Body(b)
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) { benchInvoke(b, m, threads) })
	}
}
