//go:build cgo

package xnnpack

import (
	"encoding/binary"
	"math"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// Checks with the team's shared harness (package runtimetest): models from
// another builder than this package's own, and the float reference of the
// reference backend (DequantizedModel) instead of this package's.

func rtInput(g *runtimetest.Graph, shape ...int32) int {
	return g.Input(shape, runtimetest.Quant{Scale: 0.04, ZeroPoint: -7})
}

// rtModels are the operators and blocks the brief names, built with
// runtimetest; want is the expected placement of each operator.
func rtModels() []struct {
	name  string
	m     *tflite.Model
	where string // one letter per operator: x XNNPACK, r ref
} {
	same, valid := tflite.PaddingSame, tflite.PaddingValid
	type model = struct {
		name  string
		m     *tflite.Model
		where string
	}
	var out []model
	add := func(name, where string, build func(g *runtimetest.Graph)) {
		g := runtimetest.NewGraph(uint64(len(out) + 100))
		build(g)
		out = append(out, model{name, g.Model(), where})
	}
	add("conv 3x3 s2 SAME relu6", "x", func(g *runtimetest.Graph) {
		g.Conv2D(rtInput(g, 1, 11, 11, 8), runtimetest.ConvSpec{OutChannels: 16, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Padding: same, Activation: tflite.ActRelu6})
	})
	add("conv 5x5 s1 VALID per-tensor", "x", func(g *runtimetest.Graph) {
		g.Conv2D(rtInput(g, 1, 9, 9, 4), runtimetest.ConvSpec{OutChannels: 8, KernelH: 5, KernelW: 5, Padding: valid, PerTensor: true})
	})
	add("dw 3x3 s1 SAME", "x", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(rtInput(g, 1, 8, 8, 16), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Padding: same, Activation: tflite.ActRelu6})
	})
	add("dw 5x5 s2 SAME", "x", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(rtInput(g, 1, 10, 10, 8), runtimetest.DepthwiseSpec{KernelH: 5, KernelW: 5, Stride: 2, Padding: same})
	})
	add("dw 3x3 depth multiplier 4", "x", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(rtInput(g, 1, 7, 7, 3), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, DepthMultiplier: 4, Padding: valid})
	})
	add("residual ADD, different scales", "xxx", func(g *runtimetest.Graph) {
		x := rtInput(g, 1, 6, 6, 8)
		y := g.Conv2D(x, runtimetest.ConvSpec{OutChannels: 8, KernelH: 1, KernelW: 1})
		z := g.Conv2D(x, runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, Padding: same, Activation: tflite.ActRelu})
		g.Add(y, z, tflite.ActNone, runtimetest.Quant{})
	})
	add("SE with 1x1 convs", "xxxxx", func(g *runtimetest.Graph) {
		g.SqueezeExcite(rtInput(g, 1, 5, 5, 16), 4, false)
	})
	add("SE with FC", "xxxxxxx", func(g *runtimetest.Graph) {
		g.SqueezeExcite(rtInput(g, 1, 5, 5, 16), 4, true)
	})
	add("hard-swish between convs", "xrx", func(g *runtimetest.Graph) {
		h := g.Conv2D(rtInput(g, 1, 6, 6, 8), runtimetest.ConvSpec{OutChannels: 16, KernelH: 1, KernelW: 1})
		h = g.HardSwish(h, runtimetest.Quant{})
		g.DepthwiseConv2D(h, runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Padding: same})
	})
	add("classifier head: avg pool, FC, softmax", "rxxr", func(g *runtimetest.Graph) {
		p := g.AveragePool(rtInput(g, 1, 7, 7, 32), 7, 1, valid)
		v := g.Reshape(p, []int32{1, 32})
		g.Softmax(g.FullyConnected(v, 10, tflite.ActNone, runtimetest.Quant{}, false), 1)
	})
	add("per-channel FC", "r", func(g *runtimetest.Graph) {
		g.FullyConnected(rtInput(g, 1, 24), 12, tflite.ActRelu, runtimetest.Quant{}, true)
	})
	add("NCHW input: transpose, pad, conv", "rxx", func(g *runtimetest.Graph) {
		t := g.Transpose(rtInput(g, 1, 3, 12, 12), []int32{0, 2, 3, 1})
		p := g.Pad(t, [][2]int32{{0, 0}, {1, 1}, {1, 1}, {0, 0}})
		g.Conv2D(p, runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Padding: valid, Activation: tflite.ActRelu6})
	})
	add("FPN-style merge: max pool, nearest 2x, concat, conv, crop", "xrrxr", func(g *runtimetest.Graph) {
		x := rtInput(g, 1, 8, 8, 4)
		up := g.Resize(g.MaxPool(x, 2, 2, 2, valid, tflite.ActNone), false, 8, 8, false, false)
		c := g.Conv2D(g.Concat(3, x, up), runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, Padding: same, Activation: tflite.ActRelu})
		g.StridedSlice(c, runtimetest.SliceSpec{Begin: []int32{0, 1, 1, 0}, End: []int32{1, 7, 7, 8}, Strides: []int32{1, 1, 1, 1}})
	})
	add("decoder: transpose conv 2x, bilinear 2x, sub", "xxx", func(g *runtimetest.Graph) {
		x := rtInput(g, 1, 4, 4, 8)
		tc := g.TransposeConv(x, runtimetest.TransposeConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, Stride: 2, Padding: same, PerTensor: true})
		g.Sub(tc, g.Resize(x, true, 8, 8, false, true), tflite.ActNone, runtimetest.Quant{})
	})
	add("keyword head: squeeze, FC, softmax", "xxr", func(g *runtimetest.Graph) {
		v := g.Squeeze(rtInput(g, 1, 1, 1, 16))
		g.Softmax(g.FullyConnected(v, 10, tflite.ActNone, runtimetest.Quant{}, false), 1)
	})
	add("float in and out: quantize, conv, dequantize", "xxx", func(g *runtimetest.Graph) {
		q := g.Quantize(g.FloatInput([]int32{1, 6, 6, 4}), runtimetest.Quant{Scale: 0.02, ZeroPoint: 3})
		g.Dequantize(g.Conv2D(q, runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, Padding: same}))
	})
	return out
}

// TestRuntimetestPerOp checks the placement of each model and that every
// operator, fed the values this backend computed, is within one quantum
// (beyond the half quantum of rounding itself) of the float reference.
func TestRuntimetestPerOp(t *testing.T) {
	for k, c := range rtModels() {
		t.Run(c.name, func(t *testing.T) {
			plan, err := Backend{}.Plan(c.m)
			if err != nil {
				t.Fatal(err)
			}
			where := make([]byte, len(c.m.Operators))
			for _, p := range plan {
				for _, o := range p.Ops {
					where[o] = p.Backend[0]
				}
			}
			if string(where) != c.where {
				t.Errorf("placement %s, want %s\n%s", where, c.where, FormatPlan(plan))
			}
			in := runtimetest.RandomInputs(c.m, uint64(k))
			errs, err := runtimetest.ComparePerOp(Backend{}, c.m, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				if e.MaxQuanta > 1.5 {
					t.Errorf("operator %d %s: %v", e.Op, e.Name, e.TensorError)
				}
			}
			// End to end, against the ref backend (the float reference
			// does not saturate intermediate tensors as int8 kernels must,
			// so it is no yardstick for a whole graph).
			got, want := runBackend(t, Backend{}, c.m, 2, in), runBackend(t, ref.Backend{}, c.m, 1, in)
			for o := range got {
				d := maxDiff(got[o], want[o])
				if c.m.Output(o).Type == tflite.Float32 {
					d = floatDiffQuanta(c.m, c.m.Outputs[o], got[o], want[o])
				}
				t.Logf("output %d: %d quanta from the ref backend", o, d)
				if d > 2 {
					t.Errorf("output %d: %d quanta from the ref backend", o, d)
				}
			}
		})
	}
}

// runBackend loads m on bk, runs it once on inputs and returns the outputs.
func runBackend(t *testing.T, bk runtime.Backend, m *tflite.Model, threads int, inputs [][]byte) [][]byte {
	t.Helper()
	it, err := bk.Load(m, runtime.Options{Threads: threads})
	if err != nil {
		t.Fatalf("%s: %v", bk.Name(), err)
	}
	defer it.Close()
	for i, in := range inputs {
		if err := it.SetInput(i, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Invoke(); err != nil {
		t.Fatalf("%s: %v", bk.Name(), err)
	}
	var outs [][]byte
	for i := range m.Outputs {
		outs = append(outs, it.Output(i))
	}
	return outs
}

// floatDiffQuanta is the largest difference of two float32 outputs in
// quanta of the int8 tensor the DEQUANTIZE producing output t reads.
func floatDiffQuanta(m *tflite.Model, t int, a, b []byte) int {
	scale := 1.0
	for _, op := range m.Operators {
		if op.Op == tflite.OpDequantize && op.Outputs[0] == t {
			scale = float64(m.Tensors[op.Inputs[0]].Quant.Scale[0])
		}
	}
	d := 0.0
	for i := 0; i+4 <= len(a); i += 4 {
		x := math.Float32frombits(binary.LittleEndian.Uint32(a[i:]))
		y := math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))
		d = math.Max(d, math.Abs(float64(x-y))/scale)
	}
	return int(math.Round(d))
}
