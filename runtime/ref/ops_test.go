package ref_test

import (
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// opCase builds a model on a fresh graph. bound is the largest error, in
// output quanta, each operator may have against the float reference given
// the same inputs.
type opCase struct {
	name  string
	build func(g *runtimetest.Graph)
	bound float64
}

// in adds a [1,h,w,c] int8 input with a typical activation quantization.
func in(g *runtimetest.Graph, h, w, c int32) int {
	return g.Input([]int32{1, h, w, c}, runtimetest.Quant{Scale: 0.05, ZeroPoint: -10})
}

// exact is the bound of data-movement operators: both sides dequantize the
// same int8 values, up to float32 rounding of the comparison.
const exact = 1e-6

// Requantization rounds once to nearest, so an exact kernel is within 0.5
// quanta; the fixed-point multiplier (31-bit significand) and TFLite's
// double rounding add a little, hence 1 quantum for the linear operators.
var opCases = []opCase{
	{"conv3x3 SAME per-channel", func(g *runtimetest.Graph) {
		g.Conv2D(in(g, 9, 9, 8), runtimetest.ConvSpec{OutChannels: 16, KernelH: 3, KernelW: 3, Padding: tflite.PaddingSame})
	}, 1},
	{"conv3x3 stride 2 SAME relu6", func(g *runtimetest.Graph) {
		g.Conv2D(in(g, 10, 11, 3), runtimetest.ConvSpec{OutChannels: 8, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2,
			Padding: tflite.PaddingSame, Activation: tflite.ActRelu6})
	}, 1},
	{"conv5x5 VALID per-tensor no bias", func(g *runtimetest.Graph) {
		g.Conv2D(in(g, 12, 12, 4), runtimetest.ConvSpec{OutChannels: 6, KernelH: 5, KernelW: 5, Padding: tflite.PaddingValid,
			PerTensor: true, NoBias: true})
	}, 1},
	{"conv1x1 relu", func(g *runtimetest.Graph) {
		g.Conv2D(in(g, 7, 7, 24), runtimetest.ConvSpec{OutChannels: 40, KernelH: 1, KernelW: 1, Activation: tflite.ActRelu})
	}, 1},
	{"conv3x3 dilation 2", func(g *runtimetest.Graph) {
		g.Conv2D(in(g, 11, 11, 4), runtimetest.ConvSpec{OutChannels: 5, KernelH: 3, KernelW: 3, DilationH: 2, DilationW: 2,
			Padding: tflite.PaddingSame, Activation: tflite.ActReluN1To1})
	}, 1},
	{"depthwise3x3", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(in(g, 8, 8, 16), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Padding: tflite.PaddingSame, Activation: tflite.ActRelu6})
	}, 1},
	{"depthwise5x5 stride 2", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(in(g, 15, 14, 12), runtimetest.DepthwiseSpec{KernelH: 5, KernelW: 5, Stride: 2, Padding: tflite.PaddingSame})
	}, 1},
	{"depthwise3x3 stride 2 VALID per-tensor", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(in(g, 9, 9, 8), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Stride: 2, Padding: tflite.PaddingValid, PerTensor: true})
	}, 1},
	{"depthwise depth multiplier 8", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(in(g, 12, 12, 1), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Stride: 2, DepthMultiplier: 8,
			Padding: tflite.PaddingSame, Activation: tflite.ActRelu6})
	}, 1},
	{"depthwise multiplier 2 dilation 2", func(g *runtimetest.Graph) {
		g.DepthwiseConv2D(in(g, 10, 10, 3), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, Dilation: 2, DepthMultiplier: 2,
			Padding: tflite.PaddingSame})
	}, 1},
	{"residual add, different scales", func(g *runtimetest.Graph) {
		a := g.Input([]int32{1, 6, 6, 8}, runtimetest.Quant{Scale: 0.04, ZeroPoint: 5})
		b := g.Input([]int32{1, 6, 6, 8}, runtimetest.Quant{Scale: 0.11, ZeroPoint: -20})
		g.Add(a, b, tflite.ActNone, runtimetest.Quant{Scale: 0.09, ZeroPoint: 3})
	}, 1},
	{"add broadcast relu", func(g *runtimetest.Graph) {
		a := g.Input([]int32{1, 5, 5, 8}, runtimetest.Quant{Scale: 0.02, ZeroPoint: 0})
		b := g.Input([]int32{1, 1, 1, 8}, runtimetest.Quant{Scale: 0.07, ZeroPoint: 9})
		g.Add(a, b, tflite.ActRelu, runtimetest.Quant{})
	}, 1},
	{"mul broadcast", func(g *runtimetest.Graph) {
		a := g.Input([]int32{1, 5, 5, 8}, runtimetest.Quant{Scale: 0.05, ZeroPoint: -3})
		b := g.Input([]int32{1, 1, 1, 8}, runtimetest.Quant{Scale: 1.0 / 256, ZeroPoint: -128})
		g.Mul(a, b, tflite.ActNone, runtimetest.Quant{})
	}, 1},
	{"mul same shape relu6", func(g *runtimetest.Graph) {
		a := g.Input([]int32{2, 3, 7}, runtimetest.Quant{Scale: 0.03, ZeroPoint: 1})
		b := g.Input([]int32{2, 3, 7}, runtimetest.Quant{Scale: 0.02, ZeroPoint: -7})
		g.Mul(a, b, tflite.ActRelu6, runtimetest.Quant{Scale: 0.01, ZeroPoint: -100})
	}, 1},
	// MEAN over H,W rounds twice (requantize, then divide by the count),
	// each to nearest: 0.5 + 0.5/count quanta at most, under 1.
	{"mean HW keep_dims", func(g *runtimetest.Graph) {
		g.Mean(in(g, 7, 7, 16), []int32{1, 2}, true, runtimetest.Quant{Scale: 0.02, ZeroPoint: 4})
	}, 1},
	{"mean HW keep_dims same params", func(g *runtimetest.Graph) {
		g.Mean(in(g, 4, 6, 5), []int32{2, 1}, true, runtimetest.Quant{})
	}, 1},
	// The integer mean with equal parameters truncates toward zero: up to
	// one quantum below the exact mean.
	{"mean last axis same params", func(g *runtimetest.Graph) {
		g.Mean(in(g, 3, 4, 10), []int32{-1}, false, runtimetest.Quant{})
	}, 1},
	// QuantizedMeanOrSum adds 0.5 before rounding to nearest: its results
	// lie in [exact, exact + 1] quanta, plus float32 noise.
	{"mean H no keep_dims", func(g *runtimetest.Graph) {
		g.Mean(in(g, 5, 3, 4), []int32{1}, false, runtimetest.Quant{Scale: 0.03, ZeroPoint: -5})
	}, 1.001},
	{"avg pool 3x3 stride 2 SAME", func(g *runtimetest.Graph) {
		g.AveragePool(in(g, 9, 10, 6), 3, 2, tflite.PaddingSame)
	}, 0.501},
	{"avg pool global VALID", func(g *runtimetest.Graph) {
		g.AveragePool(in(g, 7, 7, 8), 7, 1, tflite.PaddingValid)
	}, 0.501},
	{"fully connected", func(g *runtimetest.Graph) {
		g.FullyConnected(g.Input([]int32{3, 20}, runtimetest.Quant{Scale: 0.05, ZeroPoint: 2}), 12, tflite.ActNone, runtimetest.Quant{}, false)
	}, 1},
	{"fully connected per-channel relu", func(g *runtimetest.Graph) {
		g.FullyConnected(g.Input([]int32{1, 64}, runtimetest.Quant{Scale: 0.05, ZeroPoint: 2}), 10, tflite.ActRelu, runtimetest.Quant{}, true)
	}, 1},
	// The float-built table rounds each entry once.
	{"logistic", func(g *runtimetest.Graph) {
		g.Logistic(g.Input([]int32{4, 64}, runtimetest.Quant{Scale: 0.06, ZeroPoint: 3}))
	}, 0.51},
	// gemmlowp's exp and reciprocal are accurate to a few ulps of Q0.31
	// before the final rounding to 1/256.
	{"softmax", func(g *runtimetest.Graph) {
		g.Softmax(g.Input([]int32{3, 10}, runtimetest.Quant{Scale: 0.1, ZeroPoint: 0}), 1)
	}, 1},
	{"softmax beta 0.5", func(g *runtimetest.Graph) {
		g.Softmax(g.Input([]int32{2, 1000}, runtimetest.Quant{Scale: 0.05, ZeroPoint: -20}), 0.5)
	}, 1},
	// HARD_SWISH works in 16-bit fixed point; its relu-ish factor has 15
	// fractional bits, so besides the final rounding there is up to about
	// half a quantum of intermediate error.
	{"hard swish", func(g *runtimetest.Graph) {
		g.HardSwish(g.Input([]int32{1, 8, 8, 8}, runtimetest.Quant{Scale: 0.04, ZeroPoint: -30}), runtimetest.Quant{})
	}, 1},
	{"hard swish wide input", func(g *runtimetest.Graph) {
		g.HardSwish(g.Input([]int32{300}, runtimetest.Quant{Scale: 0.2, ZeroPoint: 0}), runtimetest.Quant{Scale: 0.1, ZeroPoint: -100})
	}, 1},
	{"pad", func(g *runtimetest.Graph) {
		g.Pad(in(g, 4, 5, 3), [][2]int32{{0, 0}, {1, 2}, {2, 1}, {0, 0}})
	}, exact},
	{"reshape", func(g *runtimetest.Graph) {
		g.Reshape(in(g, 4, 5, 3), []int32{1, 60})
	}, exact},
	{"transpose NCHW to NHWC", func(g *runtimetest.Graph) {
		g.Transpose(in(g, 3, 5, 7), []int32{0, 2, 3, 1})
	}, exact},
	{"transpose 5-D", func(g *runtimetest.Graph) {
		g.Transpose(g.Input([]int32{2, 3, 4, 5, 6}, runtimetest.Quant{Scale: 0.1}), []int32{4, 2, 0, 3, 1})
	}, exact},
	{"quantize float to int8", func(g *runtimetest.Graph) {
		g.Quantize(g.FloatInput([]int32{1, 4, 4, 3}), runtimetest.Quant{Scale: 0.02, ZeroPoint: 7})
	}, 0.5},
	{"requantize int8", func(g *runtimetest.Graph) {
		g.Quantize(in(g, 4, 4, 3), runtimetest.Quant{Scale: 0.07, ZeroPoint: -2})
	}, 0.5},
	{"dequantize", func(g *runtimetest.Graph) {
		g.Dequantize(in(g, 4, 4, 3))
	}, exact},
}

func TestOpsAgainstFloat(t *testing.T) {
	for i, c := range opCases {
		t.Run(c.name, func(t *testing.T) {
			g := runtimetest.NewGraph(uint64(100 + i))
			c.build(g)
			m := g.Model()
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(3) {
				inputs := runtimetest.RandomInputs(m, seed)
				errs, err := runtimetest.ComparePerOp(ref.Backend{}, m, inputs)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range errs {
					if e.MaxQuanta > c.bound {
						t.Errorf("seed %d: operator %d %s: %v, bound %v", seed, e.Op, e.Name, e.TensorError, c.bound)
					}
				}
				if seed == 0 {
					t.Logf("%v", errs[len(errs)-1].TensorError)
				}
			}
		})
	}
}

// TestSqueezeExcite runs the SE path (MEAN -> 1x1 conv or FC -> RELU ->
// 1x1 conv or FC -> LOGISTIC -> MUL). Each operator is held to one quantum
// given the same inputs. End to end, earlier rounding is amplified: the
// gate's error δg reaches the output as |x|·δg, and |x| spans 128 output
// quanta here, so one quantum of the excitation logits (≈0.02 after the
// sigmoid's slope of at most 1/4) is already a few output quanta. The graph
// output is only checked against a sanity bound of 12 quanta.
func TestSqueezeExcite(t *testing.T) {
	for _, useFC := range []bool{false, true} {
		name := "conv"
		if useFC {
			name = "fc"
		}
		t.Run(name, func(t *testing.T) {
			g := runtimetest.NewGraph(7)
			x := g.Input([]int32{1, 6, 6, 16}, runtimetest.Quant{Scale: 0.05, ZeroPoint: -20})
			g.SqueezeExcite(x, 4, useFC)
			m := g.Model()
			inputs := runtimetest.RandomInputs(m, 1)
			errs, err := runtimetest.ComparePerOp(ref.Backend{}, m, inputs)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				if e.MaxQuanta > 1 {
					t.Errorf("operator %d %s: %v", e.Op, e.Name, e.TensorError)
				}
			}
			it, err := ref.Backend{}.Load(m, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			out, err := runtimetest.Compare(it, inputs)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("end to end: %v", out[0])
			if out[0].MaxQuanta > 12 {
				t.Errorf("end to end: %v, want at most 12 quanta", out[0])
			}
		})
	}
}
