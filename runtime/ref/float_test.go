package ref_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

func floats(b []byte) []float64 {
	out := make([]float64, len(b)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out
}

func floatBytes(v []float64) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
	}
	return b
}

func actF(a tflite.Activation, v float64) float64 {
	switch a {
	case tflite.ActRelu:
		return math.Max(v, 0)
	case tflite.ActRelu6:
		return math.Min(math.Max(v, 0), 6)
	case tflite.ActReluN1To1:
		return math.Min(math.Max(v, -1), 1)
	}
	return v
}

// naiveWindow evaluates a convolution-like operator by its definition:
// out[b,y,x,o] = act(bias[o] + Σ over the window of tap(b, iy, ix, o, ky, kx)).
func naiveConv(m *tflite.Model, x []float64) []float64 {
	op := m.Operators[0]
	in, f, out := m.Tensors[op.Inputs[0]], m.Tensors[op.Inputs[1]], m.Tensors[op.Outputs[0]]
	w := floats(f.Data)
	var bias []float64
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		bias = floats(m.Tensors[op.Inputs[2]].Data)
	}
	n, ih, iw, ic := int(in.Shape[0]), int(in.Shape[1]), int(in.Shape[2]), int(in.Shape[3])
	oh, ow, oc := int(out.Shape[1]), int(out.Shape[2]), int(out.Shape[3])
	kh, kw := int(f.Shape[1]), int(f.Shape[2])
	var sh, sw, dh, dw int
	var pad tflite.Padding
	var act tflite.Activation
	depthwise := op.Op == tflite.OpDepthwiseConv2D
	if depthwise {
		o := op.Options.(*tflite.DepthwiseConv2DOptions)
		sh, sw, dh, dw, pad, act = int(o.StrideH), int(o.StrideW), int(o.DilationH), int(o.DilationW), o.Padding, o.Activation
	} else {
		o := op.Options.(*tflite.Conv2DOptions)
		sh, sw, dh, dw, pad, act = int(o.StrideH), int(o.StrideW), int(o.DilationH), int(o.DilationW), o.Padding, o.Activation
	}
	pt, _ := tflite.ComputePadding(ih, kh, sh, dh, pad)
	pl, _ := tflite.ComputePadding(iw, kw, sw, dw, pad)
	res := make([]float64, n*oh*ow*oc)
	for b := range n {
		for oy := range oh {
			for ox := range ow {
				for o := range oc {
					s := 0.0
					if bias != nil {
						s = bias[o]
					}
					for ky := range kh {
						for kx := range kw {
							iy, ix := oy*sh-pt+ky*dh, ox*sw-pl+kx*dw
							if iy < 0 || iy >= ih || ix < 0 || ix >= iw {
								continue
							}
							base := ((b*ih+iy)*iw + ix) * ic
							if depthwise {
								s += x[base+o/(oc/ic)] * w[(ky*kw+kx)*oc+o]
								continue
							}
							for c := range ic {
								s += x[base+c] * w[((o*kh+ky)*kw+kx)*ic+c]
							}
						}
					}
					res[((b*oh+oy)*ow+ox)*oc+o] = actF(act, s)
				}
			}
		}
	}
	return res
}

func naiveFC(m *tflite.Model, x []float64) []float64 {
	op := m.Operators[0]
	f := m.Tensors[op.Inputs[1]]
	w, bias := floats(f.Data), floats(m.Tensors[op.Inputs[2]].Data)
	units, k := int(f.Shape[0]), int(f.Shape[1])
	act := op.Options.(*tflite.FullyConnectedOptions).Activation
	var res []float64
	for r := 0; r < len(x)/k; r++ {
		for u := range units {
			s := bias[u]
			for i := range k {
				s += x[r*k+i] * w[u*k+i]
			}
			res = append(res, actF(act, s))
		}
	}
	return res
}

func naiveAvgPool(m *tflite.Model, x []float64) []float64 {
	op := m.Operators[0]
	o := op.Options.(*tflite.Pool2DOptions)
	in, out := m.Tensors[op.Inputs[0]], m.Tensors[op.Outputs[0]]
	ih, iw, c := int(in.Shape[1]), int(in.Shape[2]), int(in.Shape[3])
	oh, ow := int(out.Shape[1]), int(out.Shape[2])
	pt, _ := tflite.ComputePadding(ih, int(o.FilterHeight), int(o.StrideH), 1, o.Padding)
	pl, _ := tflite.ComputePadding(iw, int(o.FilterWidth), int(o.StrideW), 1, o.Padding)
	res := make([]float64, oh*ow*c)
	for oy := range oh {
		for ox := range ow {
			for ch := range c {
				s, cnt := 0.0, 0
				for ky := range int(o.FilterHeight) {
					for kx := range int(o.FilterWidth) {
						iy, ix := oy*int(o.StrideH)-pt+ky, ox*int(o.StrideW)-pl+kx
						if iy >= 0 && iy < ih && ix >= 0 && ix < iw {
							s += x[(iy*iw+ix)*c+ch]
							cnt++
						}
					}
				}
				res[(oy*ow+ox)*c+ch] = s / float64(cnt)
			}
		}
	}
	return res
}

// naiveMeanHW averages [1,H,W,C] over H and W.
func naiveMeanHW(m *tflite.Model, x []float64) []float64 {
	in := m.Tensors[m.Operators[0].Inputs[0]]
	hw, c := int(in.Shape[1]*in.Shape[2]), int(in.Shape[3])
	res := make([]float64, c)
	for i, v := range x {
		res[i%c] += v / float64(hw)
	}
	return res
}

// naiveBroadcast applies f to x [1,H,W,C] and y [1,1,1,C] (the SE gate).
func naiveBroadcast(f func(a, b float64) float64) func(*tflite.Model, []float64, []float64) []float64 {
	return func(m *tflite.Model, x, y []float64) []float64 {
		res := make([]float64, len(x))
		for i := range x {
			res[i] = f(x[i], y[i%len(y)])
		}
		return res
	}
}

func naiveSoftmax(m *tflite.Model, x []float64) []float64 {
	op := m.Operators[0]
	beta := float64(op.Options.(*tflite.SoftmaxOptions).Beta)
	sh := m.Tensors[op.Inputs[0]].Shape
	d := int(sh[len(sh)-1])
	res := make([]float64, len(x))
	for r := 0; r < len(x); r += d {
		mx := math.Inf(-1)
		for _, v := range x[r : r+d] {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for i, v := range x[r : r+d] {
			res[r+i] = math.Exp(beta * (v - mx))
			s += res[r+i]
		}
		for i := range d {
			res[r+i] /= s
		}
	}
	return res
}

func elementwise(f func(float64) float64) func(*tflite.Model, []float64) []float64 {
	return func(_ *tflite.Model, x []float64) []float64 {
		res := make([]float64, len(x))
		for i, v := range x {
			res[i] = f(v)
		}
		return res
	}
}

func TestFloatKernelsAgainstNaive(t *testing.T) {
	cases := []struct {
		name  string
		build func(g *runtimetest.Graph)
		naive func(m *tflite.Model, x []float64) []float64
	}{
		{"conv3x3 SAME stride 2 relu6", func(g *runtimetest.Graph) {
			g.Conv2D(in(g, 9, 8, 5), runtimetest.ConvSpec{OutChannels: 7, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2,
				Padding: tflite.PaddingSame, Activation: tflite.ActRelu6})
		}, naiveConv},
		{"conv 1x1", func(g *runtimetest.Graph) {
			g.Conv2D(in(g, 4, 4, 9), runtimetest.ConvSpec{OutChannels: 6, KernelH: 1, KernelW: 1})
		}, naiveConv},
		{"conv 2x3 VALID dilation no bias", func(g *runtimetest.Graph) {
			g.Conv2D(in(g, 9, 9, 2), runtimetest.ConvSpec{OutChannels: 3, KernelH: 2, KernelW: 3, DilationH: 2, DilationW: 1,
				Padding: tflite.PaddingValid, NoBias: true})
		}, naiveConv},
		{"depthwise 5x5 stride 2", func(g *runtimetest.Graph) {
			g.DepthwiseConv2D(in(g, 11, 10, 6), runtimetest.DepthwiseSpec{KernelH: 5, KernelW: 5, Stride: 2, Padding: tflite.PaddingSame})
		}, naiveConv},
		{"depthwise multiplier 4 relu", func(g *runtimetest.Graph) {
			g.DepthwiseConv2D(in(g, 6, 6, 3), runtimetest.DepthwiseSpec{KernelH: 3, KernelW: 3, DepthMultiplier: 4,
				Padding: tflite.PaddingSame, Activation: tflite.ActRelu})
		}, naiveConv},
		{"fully connected", func(g *runtimetest.Graph) {
			g.FullyConnected(g.Input([]int32{2, 30}, runtimetest.Quant{Scale: 0.1}), 9, tflite.ActRelu, runtimetest.Quant{}, false)
		}, naiveFC},
		{"avg pool 3x3 stride 2 SAME", func(g *runtimetest.Graph) {
			g.AveragePool(in(g, 7, 8, 4), 3, 2, tflite.PaddingSame)
		}, naiveAvgPool},
		{"mean HW", func(g *runtimetest.Graph) {
			g.Mean(in(g, 5, 6, 7), []int32{1, 2}, true, runtimetest.Quant{})
		}, naiveMeanHW},
		{"softmax", func(g *runtimetest.Graph) {
			g.Softmax(g.Input([]int32{3, 17}, runtimetest.Quant{Scale: 0.1}), 0.7)
		}, naiveSoftmax},
		{"logistic", func(g *runtimetest.Graph) {
			g.Logistic(g.Input([]int32{50}, runtimetest.Quant{Scale: 0.2}))
		}, elementwise(func(v float64) float64 { return 1 / (1 + math.Exp(-v)) })},
		{"hard swish", func(g *runtimetest.Graph) {
			g.HardSwish(g.Input([]int32{50}, runtimetest.Quant{Scale: 0.1}), runtimetest.Quant{})
		}, elementwise(func(v float64) float64 { return v * math.Min(6, math.Max(0, v+3)) / 6 })},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := runtimetest.NewGraph(uint64(i))
			c.build(g)
			fm := runtimetest.DequantizedModel(g.Model())
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			x := make([]float64, fm.Input(0).NumElements())
			for j := range x {
				x[j] = 8*rng.Float64() - 4
			}
			got := runFloat(t, fm, floatBytes(x))
			checkClose(t, got, c.naive(fm, x))
		})
	}
	broadcasts := []struct {
		name string
		add  bool
		f    func(a, b float64) float64
	}{
		{"add broadcast", true, func(a, b float64) float64 { return a + b }},
		{"mul broadcast", false, func(a, b float64) float64 { return a * b }},
	}
	for _, c := range broadcasts {
		t.Run(c.name, func(t *testing.T) {
			g := runtimetest.NewGraph(3)
			a, b := in(g, 3, 4, 5), in(g, 1, 1, 5)
			if c.add {
				g.Add(a, b, tflite.ActNone, runtimetest.Quant{})
			} else {
				g.Mul(a, b, tflite.ActNone, runtimetest.Quant{})
			}
			fm := runtimetest.DequantizedModel(g.Model())
			x := make([]float64, 60)
			y := []float64{-1, 0.5, 2, 3, -4}
			for j := range x {
				x[j] = float64(j)/7 - 3
			}
			got := runFloat(t, fm, floatBytes(x), floatBytes(y))
			checkClose(t, got, naiveBroadcast(c.f)(fm, x, y))
		})
	}
}

func runFloat(t *testing.T, m *tflite.Model, inputs ...[]byte) []float64 {
	t.Helper()
	it, err := ref.Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for i, b := range inputs {
		if err := it.SetInput(i, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Invoke(); err != nil {
		t.Fatal(err)
	}
	return floats(it.Output(0))
}

// checkClose allows float32 rounding: 1e-5 relative to the largest value.
func checkClose(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	scale := 1e-6
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5*scale {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}
