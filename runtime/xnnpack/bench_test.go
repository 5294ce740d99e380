//go:build cgo

package xnnpack

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// Benchmarks: the fixed cost of one Invoke (a one-operator model, XNNPACK
// against the reference backend on the same model), and the throughput
// of a MobileNetV2/ProxylessNAS inverted-residual block, the unit the LUTs
// of the search are made of.
//
//	go test ./runtime/xnnpack/ -run XXX -bench . -benchtime 200x

// tinyConvModel is a 1x1 convolution on a 1x1x1x8 tensor: nearly no work,
// so the time per Invoke is the per-call overhead.
func tinyConvModel() *tflite.Model {
	return convModel(40, []int32{1, 1, 1, 8}, 8, 1, 1, tflite.PaddingValid, tflite.ActNone, 0, 1)
}

// mbconvModel is an inverted-residual block on a 56x56x24 input: 1x1
// expansion by e with ReLU6, kxk depthwise with ReLU6, linear 1x1
// projection back to 24 channels, residual ADD.
func mbconvModel(k, e int32) *tflite.Model {
	const hw, c = 56, 24
	b := newMB(41)
	x := b.input([]int32{1, hw, hw, c}, 0.05, 3)
	w1 := b.weights(0, c*e, 1, 1, c)
	h1 := b.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, Activation: tflite.ActRelu6, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c*e), x, w1, b.bias(w1))
	w2 := b.weights(3, 1, k, k, c*e)
	h2 := b.op(tflite.OpDepthwiseConv2D, &tflite.DepthwiseConv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, DepthMultiplier: 1, Activation: tflite.ActRelu6, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c*e), h1, w2, b.bias(w2))
	w3 := b.weights(0, c, 1, 1, c*e)
	h3 := b.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: tflite.PaddingSame, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1}, b.act(1, hw, hw, c), h2, w3, b.bias(w3))
	y := b.op(tflite.OpAdd, &tflite.AddOptions{}, b.act(1, hw, hw, c), h3, x)
	return b.model(y)
}

func totalMACs(m *tflite.Model) int64 {
	var n int64
	for i := range m.Operators {
		n += m.MACs(i)
	}
	return n
}

// benchInvoke loads m on XNNPACK and times Invoke, reporting GMAC/s when
// the model does multiply-accumulates.
func benchInvoke(b *testing.B, m *tflite.Model, threads int) {
	benchBackend(b, Backend{}, m, threads)
}

// benchBackend times Invoke of m loaded on backend bk.
func benchBackend(b *testing.B, bk runtime.Backend, m *tflite.Model, threads int) {
	it, err := bk.Load(m, runtime.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	for i, in := range randomInputs(m, rand.New(rand.NewPCG(1, 1))) {
		if err := it.SetInput(i, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
	if macs := totalMACs(m); macs > 0 {
		b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	}
}

func BenchmarkInvokeOverhead(b *testing.B) {
	m := tinyConvModel()
	b.Run("xnnpack", func(b *testing.B) { benchInvoke(b, m, 1) })
	b.Run("ref", func(b *testing.B) { benchBackend(b, ref.Backend{}, m, 1) })
}

func BenchmarkMBConv56x56x24(b *testing.B) {
	for _, cfg := range []struct{ k, e int32 }{{5, 6}, {3, 6}, {3, 3}} {
		m := mbconvModel(cfg.k, cfg.e)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("k%de%d/threads=%d", cfg.k, cfg.e, threads), func(b *testing.B) { benchInvoke(b, m, threads) })
		}
		b.Run(fmt.Sprintf("k%de%d/ref", cfg.k, cfg.e), func(b *testing.B) { benchBackend(b, ref.Backend{}, m, 1) })
	}
}

// TestMBConvAgainstFloat checks the benchmarked block computes the right
// thing (a benchmark of wrong output would measure nothing useful).
func TestMBConvAgainstFloat(t *testing.T) {
	if testing.Short() {
		t.Skip("float reference of a 33 M MAC block")
	}
	m := mbconvModel(5, 6)
	in := randomInputs(m, rand.New(rand.NewPCG(3, 3)))
	want := reference(m, in)[0]
	for _, threads := range []int{1, 2} {
		got := run(t, m, threads, in)[0]
		if d := maxDiff(got, want); d > 1 {
			t.Errorf("%d threads: %d quanta from the float reference", threads, d)
		}
	}
}
