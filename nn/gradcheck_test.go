package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gradCheck compares a layer's analytic gradients (input and every param)
// with central finite differences of L = sum(y*r) for a fixed random r.
// Points where the forward and backward one-sided differences disagree sit
// on an activation kink; they are skipped, and too many skips fail.
func gradCheck(t *testing.T, l Layer, x *Tensor, train bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	y := l.Forward(x, train)
	r := randTensor(rng, y.N, y.H, y.W, y.C)
	loss := func() float64 {
		y := l.Forward(x, train)
		var s float64
		for i, v := range y.Data {
			s += float64(v) * float64(r.Data[i])
		}
		return s
	}
	loss()
	for _, p := range l.Params() {
		clear(p.G)
	}
	dx := l.Backward(r)
	dxCopy := append([]float32(nil), dx.Data...)
	type target struct {
		name string
		w    []float32
		g    []float32
	}
	targets := []target{{"input", x.Data, dxCopy}}
	for _, p := range l.Params() {
		targets = append(targets, target{p.Name, p.W, append([]float32(nil), p.G...)})
	}
	const eps = 1e-2
	checked, skipped := 0, 0
	for _, tg := range targets {
		idx := rng.Perm(len(tg.w))
		if len(idx) > 24 {
			idx = idx[:24]
		}
		for _, i := range idx {
			orig := tg.w[i]
			l0 := loss()
			tg.w[i] = orig + eps
			lp := loss()
			tg.w[i] = orig - eps
			lm := loss()
			tg.w[i] = orig
			fwd, bwd := (lp-l0)/eps, (l0-lm)/eps
			num := (lp - lm) / (2 * eps)
			an := float64(tg.g[i])
			scale := max(1, math.Abs(an), math.Abs(num))
			if math.Abs(fwd-bwd) > 0.05*scale {
				skipped++
				continue
			}
			checked++
			if math.Abs(an-num) > 1e-2*scale {
				t.Errorf("%s[%d]: analytic %.5g, numeric %.5g", tg.name, i, an, num)
			}
		}
	}
	if skipped*5 > checked {
		t.Errorf("%d points skipped as kinks, %d checked: test inputs too close to kinks", skipped, checked)
	}
}

func TestGradients(t *testing.T) {
	mk := func(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }
	cases := []struct {
		name       string
		layer      func(rng *rand.Rand) Layer
		n, h, w, c int
		train      bool
	}{
		{"conv3x3_stem", func(r *rand.Rand) Layer { return NewConv("c", 1, 4, 3, 1, r) }, 2, 6, 6, 1, true},
		{"conv3x3_s2", func(r *rand.Rand) Layer { return NewConv("c", 3, 4, 3, 2, r) }, 2, 7, 6, 3, true},
		{"conv1x1", func(r *rand.Rand) Layer { return NewConv("c", 5, 6, 1, 1, r) }, 2, 4, 3, 5, true},
		{"dw3x3_s1", func(r *rand.Rand) Layer { return NewDepthwise("d", 6, 3, 1, r) }, 2, 5, 5, 6, true},
		{"dw3x3_s2", func(r *rand.Rand) Layer { return NewDepthwise("d", 6, 3, 2, r) }, 2, 6, 6, 6, true},
		{"dw5x5_s1", func(r *rand.Rand) Layer { return NewDepthwise("d", 5, 5, 1, r) }, 2, 6, 6, 5, true},
		{"dw5x5_s2_odd", func(r *rand.Rand) Layer { return NewDepthwise("d", 5, 5, 2, r) }, 2, 7, 7, 5, true},
		{"bn_none", func(r *rand.Rand) Layer { return bnRand("b", 6, ActNone, r) }, 3, 3, 3, 6, true},
		{"bn_relu6", func(r *rand.Rand) Layer { return bnRand("b", 6, ActReLU6, r) }, 3, 3, 3, 6, true},
		{"bn_hswish", func(r *rand.Rand) Layer { return bnRand("b", 6, ActHSwish, r) }, 3, 3, 3, 6, true},
		{"bn_relu6_eval", func(r *rand.Rand) Layer { return bnRand("b", 6, ActReLU6, r) }, 3, 3, 3, 6, false},
		{"relu6", func(r *rand.Rand) Layer { return &Activation{Act: ActReLU6} }, 2, 3, 3, 4, true},
		{"hswish", func(r *rand.Rand) Layer { return &Activation{Act: ActHSwish} }, 2, 3, 3, 4, true},
		{"sigmoid", func(r *rand.Rand) Layer { return &Activation{Act: ActSigmoid} }, 2, 3, 3, 4, true},
		{"relu", func(r *rand.Rand) Layer { return &Activation{Act: ActReLU} }, 2, 3, 3, 4, true},
		{"se", func(r *rand.Rand) Layer { return NewSE("s", 8, 2, r) }, 2, 3, 3, 8, true},
		{"avgpool", func(r *rand.Rand) Layer { return &GlobalAvgPool{} }, 2, 3, 4, 5, true},
		{"dense", func(r *rand.Rand) Layer { return NewDense("f", 2*2*3, 5, r) }, 3, 2, 2, 3, true},
		// Smooth activation in the composite: the wiring is under test here,
		// and many ReLU6 kinks crossing at once blur finite differences.
		{"mbconv_res_se", func(r *rand.Rand) Layer {
			b, _ := NewMBConv("m", MBConvConfig{In: 4, Out: 4, Expand: 3, Kernel: 5, Stride: 1, SEChannels: 2, Residual: true, Act: ActSigmoid}, r)
			return b
		}, 2, 5, 5, 4, true},
		{"mbconv_s2_e1", func(r *rand.Rand) Layer {
			b, _ := NewMBConv("m", MBConvConfig{In: 4, Out: 6, Expand: 1, Kernel: 3, Stride: 2, Act: ActHSwish}, r)
			return b
		}, 2, 6, 6, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := mk(11)
			l := c.layer(rng)
			x := randTensor(rng, c.n, c.h, c.w, c.c)
			if a, ok := l.(*Activation); ok {
				// Keep standalone activation inputs off their kinks.
				for i := range x.Data {
					x.Data[i] = float32(rng.Float64()*16 - 8)
					if a.Act == ActReLU6 && math.Abs(float64(x.Data[i]-6)) < 0.1 {
						x.Data[i] += 0.5
					}
				}
			}
			if !c.train {
				// Eval mode needs meaningful running statistics.
				for range 20 {
					l.Forward(x, true)
				}
			}
			gradCheck(t, l, x, c.train)
		})
	}
}

func bnRand(name string, c int, act Act, rng *rand.Rand) *BatchNorm {
	b := NewBatchNorm(name, c, act)
	for i := range c {
		b.Gamma.W[i] = float32(0.5 + rng.Float64()*2)
		b.Beta.W[i] = float32(rng.Float64()*2 - 0.5)
	}
	b.Momentum = 0.5
	return b
}

func TestMaskedGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, l := range []interface {
		Layer
		Masked
	}{NewDepthwise("d", 6, 5, 1, rng), NewConv("c", 4, 6, 1, 1, rng)} {
		t.Run(fmt.Sprintf("%T", l), func(t *testing.T) {
			w := l.Params()[0]
			mask := make([]float32, len(w.W))
			for i := range mask {
				mask[i] = float32(rng.IntN(2))
			}
			l.SetMask(mask)
			cin := 6
			if c, ok := l.(*Conv); ok {
				cin = c.Cin
			}
			gradCheck(t, l, randTensor(rng, 2, 5, 5, cin), true)
			// Masked-out weights get no gradient; EffGrad is dL/d(W*mask).
			for i, m := range mask {
				if m == 0 && w.G[i] != 0 {
					t.Fatalf("masked weight %d has gradient %v", i, w.G[i])
				}
				if m == 1 && w.G[i] != l.EffGrad()[i] {
					t.Fatalf("unmasked weight %d: grad %v != effgrad %v", i, w.G[i], l.EffGrad()[i])
				}
			}
		})
	}
}

func TestSoftmaxCEGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, smooth := range []float32{0, 0.1} {
		logits := randTensor(rng, 4, 1, 1, 10)
		labels := []int{3, 0, 9, 3}
		l := &SoftmaxCE{Smoothing: smooth}
		l.Forward(logits, labels)
		g := append([]float32(nil), l.Backward().Data...)
		const eps = 1e-2
		for i := range logits.Data {
			o := logits.Data[i]
			logits.Data[i] = o + eps
			lp, _ := l.Forward(logits, labels)
			logits.Data[i] = o - eps
			lm, _ := l.Forward(logits, labels)
			logits.Data[i] = o
			if num := (lp - lm) / (2 * eps); math.Abs(num-float64(g[i])) > 1e-3 {
				t.Errorf("smoothing %v logit %d: analytic %v numeric %v", smooth, i, g[i], num)
			}
		}
		// Against a direct evaluation: uniform logits give log(K) whatever q is.
		clear(logits.Data)
		if loss, _ := l.Forward(logits, labels); math.Abs(loss-math.Log(10)) > 1e-6 {
			t.Errorf("uniform logits loss %v, want log 10", loss)
		}
	}
}
