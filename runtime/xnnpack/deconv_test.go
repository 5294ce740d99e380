//go:build cgo

package xnnpack

import (
	"bytes"
	"fmt"
	"testing"

	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// TestDeconvKernelMatchesXNNPACK checks the per-channel TRANSPOSE_CONV
// kernel (deconv.go) against this XNNPACK's own per-tensor deconvolution:
// a filter whose channels all carry the same scale is the same operator
// either way, so the two must give the same bytes.
func TestDeconvKernelMatchesXNNPACK(t *testing.T) {
	cases := []struct {
		name string
		spec runtimetest.TransposeConvSpec
		in   []int32
	}{
		{name: "3x3 stride 2 SAME relu", in: []int32{1, 4, 5, 3},
			spec: runtimetest.TransposeConvSpec{OutChannels: 6, KernelH: 3, KernelW: 3, Stride: 2, Padding: tflite.PaddingSame, Activation: tflite.ActRelu}},
		{name: "2x2 stride 2 VALID no bias, batch 2", in: []int32{2, 3, 3, 4},
			spec: runtimetest.TransposeConvSpec{OutChannels: 5, KernelH: 2, KernelW: 2, Stride: 2, Padding: tflite.PaddingValid, NoBias: true}},
		{name: "4x4 stride 1 SAME relu6", in: []int32{1, 5, 5, 2},
			spec: runtimetest.TransposeConvSpec{OutChannels: 3, KernelH: 4, KernelW: 4, Stride: 1, Padding: tflite.PaddingSame, Activation: tflite.ActRelu6}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := runtimetest.NewGraph(uint64(i + 1))
			g.TransposeConv(g.Input(c.in, runtimetest.Quant{Scale: 0.03, ZeroPoint: -5}), c.spec)
			perChannel := g.Model()
			f := &perChannel.Tensors[perChannel.Operators[0].Inputs[1]]
			for k := range f.Quant.Scale {
				f.Quant.Scale[k] = f.Quant.Scale[0]
			}
			perTensor := *perChannel
			perTensor.Tensors = append([]tflite.Tensor(nil), perChannel.Tensors...)
			q := *f.Quant
			q.Scale, q.ZeroPoint = q.Scale[:1], q.ZeroPoint[:1]
			perTensor.Tensors[perChannel.Operators[0].Inputs[1]].Quant = &q
			if ins := perChannel.Operators[0].Inputs; len(ins) > 3 && ins[3] >= 0 {
				bq := *perTensor.Tensors[ins[3]].Quant // the bias: scale input*filter, now one
				bq.Scale, bq.ZeroPoint = bq.Scale[:1], bq.ZeroPoint[:1]
				perTensor.Tensors[ins[3]].Quant = &bq
			}
			for _, want := range []struct {
				m     *tflite.Model
				where string
			}{{perChannel, backendRef}, {&perTensor, backendXNNPACK}} {
				plan, err := Backend{}.Plan(want.m)
				if err != nil {
					t.Fatal(err)
				}
				if plan[0].Backend != want.where {
					t.Fatalf("placed on %s (%s), want %s", plan[0].Backend, plan[0].Reason, want.where)
				}
			}
			for seed := range uint64(3) {
				in := runtimetest.RandomInputs(perChannel, seed)
				got, want := runBackend(t, Backend{}, perChannel, 1, in), runBackend(t, Backend{}, &perTensor, 1, in)
				if !bytes.Equal(got[0], want[0]) {
					t.Errorf("input seed %d: kernel %v, XNNPACK %v", seed, head8(got[0]), head8(want[0]))
				}
			}
		})
	}
}

func head8(b []byte) string { return fmt.Sprint(runtimetest.Int8s(b[:min(len(b), 8)])) }
