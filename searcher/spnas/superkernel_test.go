package spnas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"edgenas/lut"
	"edgenas/nn"
	"edgenas/space"
)

// tinySpace is a two-slot space small enough for finite differences: slot 0
// is a stride-2 stage head (no skip), slot 1 is skippable.
func tinySpace(act string) *space.Space {
	return &space.Space{Name: "tiny", InputH: 6, InputW: 6, InputC: 1, StemOut: 4, StemStride: 1, FirstOut: 4,
		Stages: []space.Stage{{Out: 4, Stride: 2, Layers: 2}}, LastOut: 8, HeadOut: 8, Classes: 3,
		SE: true, SERatio: 0.5, Act: act}
}

func randTensor(rng *rand.Rand, n, h, w, c int) *nn.Tensor {
	t := &nn.Tensor{N: n, H: h, W: w, C: c, Data: make([]float32, n*h*w*c)}
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// randomizeBN gives batch norms non-trivial affine parameters so that
// tests exercise them (they start at gamma 1, beta 0).
func randomizeBN(rng *rand.Rand, bns ...*nn.BatchNorm) {
	for _, b := range bns {
		for i := range b.C {
			b.Gamma.W[i] = float32(0.5 + rng.Float64())
			b.Beta.W[i] = float32(rng.Float64() - 0.5)
		}
	}
}

func newTestBlock(t *testing.T, s *space.Space, slot int, relaxed bool, seed uint64) *Block {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	b, err := NewBlock(fmt.Sprintf("b%d", slot), s, s.Slots()[slot], &Control{Relaxed: relaxed, Keep: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	randomizeBN(rng, b.ExpandBN, b.DWBN, b.ProjBN)
	return b
}

func TestDecodeTable(t *testing.T) {
	cases := []struct {
		d    Ind // d5, d50, d100, dse
		want string
	}{
		{Ind{0, 1, 0, 0}, "k3e3"},
		{Ind{0, 1, 1, 0}, "k3e6"}, // the public code's encoder calls this k5e3
		{Ind{1, 1, 0, 0}, "k5e3"}, // and this k3e6
		{Ind{1, 1, 1, 0}, "k5e6"},
		{Ind{1, 1, 1, 1}, "k5e6+se"},
		{Ind{0, 1, 1, 1}, "k3e6+se"},
		{Ind{0, 0, 0, 0}, "skip"},
		{Ind{1, 0, 1, 1}, "skip"},
	}
	for _, c := range cases {
		got := Decode(c.d)
		if got.String() != c.want {
			t.Errorf("Decode(%v) = %s, want %s", c.d, got, c.want)
		}
		if got.Skip {
			continue
		}
		if Encode(got) != c.d {
			t.Errorf("Encode(%s) = %v, want %v", got, Encode(got), c.d)
		}
		// The runtime model must read the same encoding.
		base := got
		base.SE = false
		li, err := lut.IndicatorsFor(base)
		if err != nil {
			t.Fatal(err)
		}
		if li.D5 != c.d[I5] || li.D50 != c.d[I50] || li.D100 != c.d[I100] {
			t.Errorf("lut.IndicatorsFor(%s) = %+v, superkernel encodes %v", base, li, c.d)
		}
	}
}

// fixedFromSuper builds the stand-alone MBConv of choice c and copies into it
// the superkernel weights that choice uses.
func fixedFromSuper(t *testing.T, s *space.Space, b *Block, c space.Choice) *nn.MBConv {
	t.Helper()
	l, err := s.SlotLayer(b.Slot.Index, c)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseAct(s.Act)
	m, err := nn.NewMBConv("fixed", nn.MBConvConfig{In: l.InC, Out: l.OutC, Expand: l.Expand, Kernel: l.Kernel,
		Stride: l.Stride, SEChannels: l.SEChannels, Residual: l.IDSkip, Act: act}, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	in, mid, sm := l.InC, l.MidC(), b.Mid
	for o := range mid {
		copy(m.Expand.Weight.W[o*in:(o+1)*in], b.Expand.Weight.W[o*in:(o+1)*in])
	}
	copyBN := func(dst, src *nn.BatchNorm, n int) {
		copy(dst.Gamma.W, src.Gamma.W[:n])
		copy(dst.Beta.W, src.Beta.W[:n])
	}
	copyBN(m.ExpandBN, b.ExpandBN, mid)
	off := (5 - l.Kernel) / 2
	for ky := range l.Kernel {
		for kx := range l.Kernel {
			copy(m.DW.Weight.W[(ky*l.Kernel+kx)*mid:][:mid], b.DW.Weight.W[((ky+off)*5+kx+off)*sm:][:mid])
		}
	}
	copyBN(m.DWBN, b.DWBN, mid)
	if c.SE {
		se := l.SEChannels
		for r := range se {
			copy(m.SE.Reduce.Weight.W[r*mid:(r+1)*mid], b.SEL.Reduce.Weight.W[r*sm:][:mid])
		}
		copy(m.SE.Reduce.Bias.W, b.SEL.Reduce.Bias.W)
		copy(m.SE.Expand.Weight.W, b.SEL.Expand.Weight.W[:mid*se])
		copy(m.SE.Expand.Bias.W, b.SEL.Expand.Bias.W[:mid])
	}
	for o := range l.OutC {
		copy(m.Project.Weight.W[o*mid:(o+1)*mid], b.Project.Weight.W[o*sm:][:mid])
	}
	copyBN(m.ProjBN, b.ProjBN, l.OutC)
	return m
}

// TestBlockMatchesFixedMBConv forces each choice's indicators and checks the
// superkernel computes exactly the stand-alone block of that choice (with
// the shared weights): the decoding is right in what the network does, not
// only in its labels.
func TestBlockMatchesFixedMBConv(t *testing.T) {
	s := tinySpace("relu6")
	for slot := range 2 {
		b := newTestBlock(t, s, slot, false, uint64(3+slot))
		rng := rand.New(rand.NewPCG(4, 4))
		for _, sub := range []*nn.Dense{b.SEL.Reduce, b.SEL.Expand} {
			for i := range sub.Bias.W {
				sub.Bias.W[i] = float32(rng.NormFloat64() * 0.3)
			}
		}
		sl := b.Slot
		x := randTensor(rng, 3, sl.InH, sl.InW, sl.InC)
		for _, c := range s.Options(sl) {
			t.Run(fmt.Sprintf("slot%d_%s", slot, c), func(t *testing.T) {
				d := Encode(c)
				b.Force = &d
				got := append([]float32(nil), b.Forward(x, true).Data...)
				if c.Skip {
					for i, v := range got {
						if v != x.Data[i] {
							t.Fatalf("skip: output %d is %v, input %v", i, v, x.Data[i])
						}
					}
					return
				}
				want := fixedFromSuper(t, s, b, c).Forward(x, true)
				if len(want.Data) != len(got) {
					t.Fatalf("output sizes %d vs %d", len(got), len(want.Data))
				}
				for i, v := range want.Data {
					if math.Abs(float64(v-got[i])) > 1e-4*max(1, math.Abs(float64(v))) {
						t.Fatalf("output %d: superkernel %v, fixed %s block %v", i, got[i], c, v)
					}
				}
			})
		}
	}
}

// blockLoss is L = sum(y*r) of one training forward.
func blockLoss(b *Block, x, r *nn.Tensor) float64 {
	return dot(b.Forward(x, true).Data, r.Data)
}

// TestBlockGradientsRelaxed checks every gradient of the superkernel,
// thresholds and the norms' straight-through terms included, against finite
// differences of the smooth relaxation (indicators sigmoid(n-t)), whose
// exact gradient is the straight-through formula the hard search uses.
func TestBlockGradientsRelaxed(t *testing.T) {
	s := tinySpace("sigmoid") // smooth activations: finite differences need no kink handling
	for slot := range 2 {
		t.Run(fmt.Sprint("slot", slot), func(t *testing.T) {
			b := newTestBlock(t, s, slot, true, 21)
			rng := rand.New(rand.NewPCG(22, uint64(slot)))
			// Thresholds near the norms, where the surrogate is steep.
			b.norms()
			for i := range NumIndicators {
				b.T.W[i] = float32(b.Norm[i] + rng.NormFloat64()*0.3)
			}
			sl := b.Slot
			x := randTensor(rng, 2, sl.InH, sl.InW, sl.InC)
			y := b.Forward(x, true)
			r := randTensor(rng, y.N, y.H, y.W, y.C)
			for _, p := range b.Params() {
				clear(p.G)
			}
			blockLoss(b, x, r)
			dx := append([]float32(nil), b.Backward(r).Data...)
			b.IndicatorBackward(Ind{})
			type target struct {
				name string
				w, g []float32
			}
			targets := []target{{"input", x.Data, dx}}
			for _, p := range b.Params() {
				targets = append(targets, target{p.Name, p.W, append([]float32(nil), p.G...)})
			}
			const eps = 3e-3
			for _, tg := range targets {
				idx := rng.Perm(len(tg.w))
				if len(idx) > 12 {
					idx = idx[:12]
				}
				if tg.name == b.T.Name {
					idx = []int{I5, I50, I100, ISE}
				}
				for _, i := range idx {
					o := tg.w[i]
					tg.w[i] = o + eps
					lp := blockLoss(b, x, r)
					tg.w[i] = o - eps
					lm := blockLoss(b, x, r)
					tg.w[i] = o
					num, an := (lp-lm)/(2*eps), float64(tg.g[i])
					if math.Abs(an-num) > 2e-2*max(0.1, math.Abs(num)) {
						t.Errorf("%s[%d]: analytic %.5g, numeric %.5g", tg.name, i, an, num)
					}
				}
			}
			if !b.Skippable && b.T.G[I50] != 0 {
				t.Errorf("t50 of a non-skippable slot has gradient %v", b.T.G[I50])
			}
		})
	}
}

// TestIndicatorGradientsHard checks dL/dD at hard corner values (where the
// search evaluates it) against finite differences in the indicator, and the
// threshold gradient against -sigmoid'(n-t) dL/dD.
func TestIndicatorGradientsHard(t *testing.T) {
	s := tinySpace("sigmoid")
	b := newTestBlock(t, s, 1, false, 31)
	rng := rand.New(rand.NewPCG(32, 0))
	sl := b.Slot
	x := randTensor(rng, 2, sl.InH, sl.InW, sl.InC)
	r := randTensor(rng, 2, sl.InH, sl.InW, sl.OutC)
	for _, corner := range []Ind{{1, 1, 1, 1}, {0, 1, 0, 0}, {1, 1, 0, 1}, {0, 0, 1, 0}} {
		d := corner
		b.Force = &d
		blockLoss(b, x, r)
		b.Backward(r)
		dd := b.DD
		for i := range NumIndicators {
			const eps = 1e-2
			d[i] = corner[i] + eps
			lp := blockLoss(b, x, r)
			d[i] = corner[i] - eps
			lm := blockLoss(b, x, r)
			d[i] = corner[i]
			if num := (lp - lm) / (2 * eps); math.Abs(num-dd[i]) > 1e-2*max(0.1, math.Abs(num)) {
				t.Errorf("corner %v: dL/dD[%d] analytic %.5g numeric %.5g", corner, i, dd[i], num)
			}
		}
	}
	b.Force = nil
	clear(b.T.G)
	blockLoss(b, x, r)
	b.Backward(r)
	extra := Ind{0.5, -0.25, 1, 2}
	b.IndicatorBackward(extra)
	for i := range NumIndicators {
		want := -(b.DD[i] + extra[i]) * surrogate(b.Norm[i]-float64(b.T.W[i]))
		if math.Abs(float64(b.T.G[i])-want) > 1e-5*max(1, math.Abs(want)) {
			t.Errorf("threshold %d gradient %v, want %v", i, b.T.G[i], want)
		}
	}
}

func TestIndicatorDropout(t *testing.T) {
	s := tinySpace("relu6")
	b := newTestBlock(t, s, 1, false, 41)
	b.ctl.Keep, b.ctl.Rng = 0.6, rand.New(rand.NewPCG(1, 2))
	x := randTensor(rand.New(rand.NewPCG(3, 3)), 1, 3, 3, 4)
	off := Ind{}
	const n = 2000
	for range n {
		b.Forward(x, true)
		for i, v := range b.D {
			off[i] += 1 - v
		}
	}
	for i := range NumIndicators {
		if frac := off[i] / n; math.Abs(frac-0.4) > 0.05 {
			t.Errorf("indicator %d dropped %.3f of the time, want 0.4", i, frac)
		}
	}
	b.Forward(x, false)
	if b.D != (Ind{1, 1, 1, 1}) {
		t.Errorf("eval forward dropped indicators: %v", b.D)
	}
}
