package nn

import (
	"math/rand/v2"
	"testing"
)

func randTensor(rng *rand.Rand, n, h, w, c int) *Tensor {
	t := (&Tensor{}).Ensure(n, h, w, c)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// BenchmarkKernels times the building blocks on a typical supernet shape
// (batch 64, 14x14x144), for finding where a training step goes.
func BenchmarkKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randTensor(rng, 64, 14, 14, 144)
	dy := randTensor(rng, 64, 14, 14, 144)
	elems := float64(x.Size())
	cases := []struct {
		name string
		l    Layer
		macs float64
	}{
		{"bn_relu6", NewBatchNorm("bn", 144, ActReLU6), 0},
		{"dw5x5", NewDepthwise("dw", 144, 5, 1, rng), elems * 25},
		{"pw144to24", NewConv("pw", 144, 24, 1, 1, rng), elems * 24},
		{"se", NewSE("se", 144, 6, rng), 0},
	}
	for _, c := range cases {
		b.Run(c.name+"/fwd", func(b *testing.B) {
			for range b.N {
				c.l.Forward(x, true)
			}
			b.ReportMetric(elems*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			if c.macs > 0 {
				b.ReportMetric(c.macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			}
		})
		b.Run(c.name+"/bwd", func(b *testing.B) {
			y := c.l.Forward(x, true)
			g := randTensor(rng, y.N, y.H, y.W, y.C)
			b.ResetTimer()
			for range b.N {
				c.l.Backward(g)
			}
			b.ReportMetric(elems*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			if c.macs > 0 {
				b.ReportMetric(2*c.macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			}
		})
	}
	_ = dy
}
