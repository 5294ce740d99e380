package nn

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"edgenas/space"
)

// supernetArch is spnas-fmnist with every searchable layer at k5e6+se, the
// shape of the Single-Path NAS superkernel network.
func supernetArch(tb testing.TB) space.Arch {
	s := space.MustLookup("spnas-fmnist")
	a, err := s.Parse(strings.TrimSuffix(strings.Repeat("k5e6+se,", s.NumSearchable()), ","))
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func benchTrain(b *testing.B, arch space.Arch, batch int) {
	net, err := Build(arch, 1)
	if err != nil {
		b.Fatal(err)
	}
	opt, err := NewOptimizer(OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: 1e-5}, net.Params())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*net.InH*net.InW*net.InC)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(net.Classes)
	}
	step := func() {
		if _, _, err := net.TrainStep(x, y); err != nil {
			b.Fatal(err)
		}
		opt.Step(0.01)
	}
	step() // size the buffers
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		step()
	}
	sec := time.Since(start).Seconds()
	ips := float64(b.N*batch) / sec
	b.ReportMetric(ips, "images/s")
	b.ReportMetric(ips*float64(arch.MACs())*3/1e9, "GMAC/s")
}

// BenchmarkSupernetTrain measures training throughput of the full
// spnas-fmnist supernet; GMAC/s counts forward MACs x3 per image.
func BenchmarkSupernetTrain(b *testing.B) {
	for _, batch := range []int{32, 64, 128} {
		b.Run("batch"+itoa(batch), func(b *testing.B) { benchTrain(b, supernetArch(b), batch) })
	}
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

// BenchmarkThreeLayerConv is the gorgonia comparison net: 3x3 1->16,
// ReLU, 1x1 16->96, ReLU, 1x1 96->24 at 28x28, batch 64, mean-square loss,
// plain SGD. The gorgonia v0.9.18 version of the same program is in
// testdata/gorgonia_bench (a separate module, so the project does not
// depend on gorgonia).
func BenchmarkThreeLayerConv(b *testing.B) {
	const batch = 64
	rng := rand.New(rand.NewPCG(1, 1))
	layers := []Layer{NewConv("c1", 1, 16, 3, 1, rng), &Activation{Act: ActReLU}, NewConv("c2", 16, 96, 1, 1, rng),
		&Activation{Act: ActReLU}, NewConv("c3", 96, 24, 1, 1, rng)}
	var params []*Param
	for _, l := range layers {
		params = append(params, l.Params()...)
	}
	opt, _ := NewOptimizer(OptConfig{Kind: "sgd"}, params)
	x := randTensor(rng, batch, 28, 28, 1)
	var dy Tensor
	step := func() {
		t := x
		for _, l := range layers {
			t = l.Forward(t, true)
		}
		dy.Ensure(t.N, t.H, t.W, t.C)
		for i, v := range t.Data {
			dy.Data[i] = 2 * v / float32(len(t.Data))
		}
		d := &dy
		for i := len(layers) - 1; i >= 0; i-- {
			d = layers[i].Backward(d)
		}
		opt.Step(0.001)
	}
	step()
	b.ResetTimer()
	for range b.N {
		step()
	}
	ips := float64(b.N*batch) / b.Elapsed().Seconds()
	b.ReportMetric(ips, "images/s")
	b.ReportMetric(ips*28*28*(16*9+16*96+96*24)*3/1e9, "GMAC/s")
}
