package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Tensor is a batch-first NHWC float32 activation. Layers own their output
// tensors and reuse them across steps, so a returned tensor is valid only
// until the producing layer runs again.
type Tensor struct {
	N, H, W, C int
	Data       []float32
}

// Rows is N*H*W: the number of channel vectors, the M of a 1x1-conv GEMM.
func (t *Tensor) Rows() int { return t.N * t.H * t.W }

// Size is the element count N*H*W*C.
func (t *Tensor) Size() int { return t.N * t.H * t.W * t.C }

// Shape returns a readable shape.
func (t *Tensor) Shape() string { return fmt.Sprintf("%dx%dx%dx%d", t.N, t.H, t.W, t.C) }

// Ensure resizes t to the given shape, reallocating only when the backing
// array is too small; this is what keeps allocation out of the training step.
func (t *Tensor) Ensure(n, h, w, c int) *Tensor {
	t.N, t.H, t.W, t.C = n, h, w, c
	sz := n * h * w * c
	if cap(t.Data) < sz {
		t.Data = make([]float32, sz)
	}
	t.Data = t.Data[:sz]
	return t
}

// growF32 returns buf resized to n, reallocating only if needed.
func growF32(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// Param is a trainable (or, with Grad nil, a persistent non-trainable)
// tensor. Layouts follow TFLite: conv weights OHWI [Cout][k][k][Cin],
// depthwise [k][k][C], dense [Out][In].
type Param struct {
	Name  string
	Shape []int
	W     []float32
	// G is dL/dW, accumulated by Backward and cleared by Net.ZeroGrad.
	G []float32
	// NoDecay excludes the tensor from weight decay (biases, BN affine).
	NoDecay bool
}

func newParam(name string, noDecay bool, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param{Name: name, Shape: shape, W: make([]float32, n), G: make([]float32, n), NoDecay: noDecay}
}

func newBuffer(name string, n int) *Param {
	return &Param{Name: name, Shape: []int{n}, W: make([]float32, n)}
}

// heNormal fills w with N(0, 2/fanOut), the EfficientNet conv initialiser
// (fan-out keeps depthwise kernels, whose fan-in is tiny, from exploding).
func heNormal(w []float32, fan int, rng *rand.Rand) {
	std := math.Sqrt(2 / float64(fan))
	for i := range w {
		w[i] = float32(rng.NormFloat64() * std)
	}
}

func uniformInit(w []float32, limit float64, rng *rand.Rand) {
	for i := range w {
		w[i] = float32((rng.Float64()*2 - 1) * limit)
	}
}

// workers is how many goroutines the Go-side loops split work into.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallel runs fn over [0,n) split into at most workers() contiguous
// chunks; chunk index w is passed so callers can use per-worker scratch.
func parallel(n int, fn func(w, lo, hi int)) {
	nw := workers()
	if nw > n {
		nw = n
	}
	if nw <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(nw - 1)
	for w := 1; w < nw; w++ {
		go func(w int) {
			defer wg.Done()
			fn(w, w*n/nw, (w+1)*n/nw)
		}(w)
	}
	fn(0, 0, n/nw)
	wg.Wait()
}
