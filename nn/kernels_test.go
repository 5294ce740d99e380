package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func closeSlices(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, reference %v", what, i, got[i], want[i])
		}
	}
}

// TestKernelsMatchReference checks the compiled kernels (OpenBLAS and C with
// cgo) against the pure-Go reference implementations.
func TestKernelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	t.Run("gemm", func(t *testing.T) {
		for _, tc := range []struct {
			ta, tb  bool
			m, n, k int
		}{{false, false, 70, 90, 50}, {false, true, 130, 20, 70}, {true, false, 24, 300, 90}, {true, true, 65, 66, 67}} {
			a, b := randSlice(rng, tc.m*tc.k), randSlice(rng, tc.k*tc.n)
			lda, ldb := tc.k, tc.n
			if tc.ta {
				lda = tc.m
			}
			if tc.tb {
				ldb = tc.k
			}
			c0 := randSlice(rng, tc.m*tc.n)
			c1 := append([]float32(nil), c0...)
			gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, c0, tc.n)
			sgemmGo(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, c1, tc.n)
			closeSlices(t, "gemm", c0, c1, 1e-4)
		}
	})
	for _, g := range []convGeom{sameGeom(9, 8, 19, 5, 2), sameGeom(7, 7, 33, 3, 1), sameGeom(4, 4, 8, 5, 1)} {
		n := 3
		in, wt := randSlice(rng, n*g.H*g.W*g.C), randSlice(rng, g.K*g.K*g.C)
		dout := randSlice(rng, n*g.OH*g.OW*g.C)
		o0, o1 := make([]float32, len(dout)), make([]float32, len(dout))
		dwForward(g, in, wt, o0, 0, n)
		dwForwardGo(g, in, wt, o1, 0, n)
		closeSlices(t, "dw forward", o0, o1, 1e-5)
		d0, d1 := make([]float32, len(in)), make([]float32, len(in))
		w0, w1 := make([]float32, len(wt)), make([]float32, len(wt))
		dwBackward(g, in, wt, dout, d0, w0, 0, n)
		dwBackwardGo(g, in, wt, dout, d1, w1, 0, n)
		closeSlices(t, "dw dx", d0, d1, 1e-5)
		closeSlices(t, "dw dw", w0, w1, 1e-4)
	}
	const rows, c = 37, 21
	x, dy := randSlice(rng, rows*c), randSlice(rng, rows*c)
	mean, invstd, gamma, beta := randSlice(rng, c), randSlice(rng, c), randSlice(rng, c), randSlice(rng, c)
	k, mg, mgx := randSlice(rng, c), randSlice(rng, c), randSlice(rng, c)
	for a := ActNone; a <= ActSigmoid; a++ {
		y0, y1 := make([]float32, rows*c), make([]float32, rows*c)
		bnActFwd(a, x, y0, c, gamma, beta, 0, rows)
		bnActFwdGo(a, x, y1, c, gamma, beta, 0, rows)
		closeSlices(t, "bn fwd "+a.String(), y0, y1, 1e-5)
		s0, q0, s1, q1 := make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
		bnActBwdSums(a, x, dy, c, mean, invstd, gamma, beta, s0, q0, 0, rows)
		bnActBwdSumsGo(a, x, dy, c, mean, invstd, gamma, beta, s1, q1, 0, rows)
		for i := range s0 {
			if math.Abs(s0[i]-s1[i]) > 1e-3 || math.Abs(q0[i]-q1[i]) > 1e-3*max(1, math.Abs(q1[i])) {
				t.Fatalf("bn bwd sums %s channel %d: %v,%v vs %v,%v", a, i, s0[i], q0[i], s1[i], q1[i])
			}
		}
		bnActBwdDx(a, x, dy, y0, c, mean, invstd, gamma, beta, k, mg, mgx, 0, rows)
		bnActBwdDxGo(a, x, dy, y1, c, mean, invstd, gamma, beta, k, mg, mgx, 0, rows)
		closeSlices(t, "bn dx "+a.String(), y0, y1, 1e-4)
	}
	s0, q0, s1, q1 := make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
	bnSums(x, c, s0, q0, 0, rows)
	bnSumsGo(x, c, s1, q1, 0, rows)
	for i := range s0 {
		if math.Abs(s0[i]-s1[i]) > 1e-9 || math.Abs(q0[i]-q1[i]) > 1e-9 {
			t.Fatalf("bn sums channel %d differ", i)
		}
	}
}

func TestSameGeom(t *testing.T) {
	// TensorFlow SAME: total padding max((out-1)*s+k-in, 0), extra at the end.
	for _, c := range []struct{ in, k, s, out, pt int }{
		{28, 3, 1, 28, 1}, {28, 5, 2, 14, 1}, {28, 3, 2, 14, 0}, {7, 5, 2, 4, 2}, {14, 5, 1, 14, 2},
	} {
		g := sameGeom(c.in, c.in, 1, c.k, c.s)
		if g.OH != c.out || g.PT != c.pt || g.PL != c.pt {
			t.Errorf("in %d k %d s %d: out %d pad %d, want %d, %d", c.in, c.k, c.s, g.OH, g.PT, c.out, c.pt)
		}
	}
}
