package spnas

import "edgenas/nn"

// ensure resizes t to n x h x w x c, reallocating only when its backing
// array is too small, so a search step allocates nothing large.
func ensure(t *nn.Tensor, n, h, w, c int) *nn.Tensor {
	t.N, t.H, t.W, t.C = n, h, w, c
	sz := n * h * w * c
	if cap(t.Data) < sz {
		t.Data = make([]float32, sz)
	}
	t.Data = t.Data[:sz]
	return t
}

// dot is sum(a*b) in float64 (indicator gradients sum over whole
// activations, where float32 accumulation loses the small terms).
func dot(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}
