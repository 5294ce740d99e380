//go:build cgo

package nn

/*
#cgo LDFLAGS: -lopenblas -lm
#cgo CFLAGS: -O3 -std=c11
#include <cblas.h>
#include <math.h>

// Each hot loop is compiled for AVX-512, AVX2+FMA and baseline x86-64; the
// loader picks the best the CPU supports (GCC function multi-versioning).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MV __attribute__((target_clones("avx512f","arch=x86-64-v3","default")))
#else
#define MV
#endif

typedef struct { int H, W, C, K, S, OH, OW, PT, PL; } geom;

MV void dw_fwd(const geom* g, const float* in, const float* wt, float* out, int b0, int b1) {
	const int c = g->C;
	for (int b = b0; b < b1; b++)
	for (int oy = 0; oy < g->OH; oy++)
	for (int ox = 0; ox < g->OW; ox++) {
		float* restrict o = out + (((long)b*g->OH + oy)*g->OW + ox)*c;
		for (int i = 0; i < c; i++) o[i] = 0;
		for (int ky = 0; ky < g->K; ky++) {
			int iy = oy*g->S + ky - g->PT;
			if (iy < 0 || iy >= g->H) continue;
			for (int kx = 0; kx < g->K; kx++) {
				int ix = ox*g->S + kx - g->PL;
				if (ix < 0 || ix >= g->W) continue;
				const float* restrict x = in + (((long)b*g->H + iy)*g->W + ix)*c;
				const float* restrict w = wt + (ky*g->K + kx)*c;
				for (int i = 0; i < c; i++) o[i] += x[i]*w[i];
			}
		}
	}
}

MV void dw_bwd(const geom* g, const float* in, const float* wt, const float* dout, float* din, float* dwt, int b0, int b1) {
	const int c = g->C;
	for (long i = (long)b0*g->H*g->W*c; i < (long)b1*g->H*g->W*c; i++) din[i] = 0;
	for (int b = b0; b < b1; b++)
	for (int oy = 0; oy < g->OH; oy++)
	for (int ox = 0; ox < g->OW; ox++) {
		const float* restrict d = dout + (((long)b*g->OH + oy)*g->OW + ox)*c;
		for (int ky = 0; ky < g->K; ky++) {
			int iy = oy*g->S + ky - g->PT;
			if (iy < 0 || iy >= g->H) continue;
			for (int kx = 0; kx < g->K; kx++) {
				int ix = ox*g->S + kx - g->PL;
				if (ix < 0 || ix >= g->W) continue;
				long off = (((long)b*g->H + iy)*g->W + ix)*c;
				const float* restrict x = in + off;
				float* restrict dx = din + off;
				const float* restrict w = wt + (ky*g->K + kx)*c;
				float* restrict dw = dwt + (ky*g->K + kx)*c;
				for (int i = 0; i < c; i++) { dx[i] += d[i]*w[i]; dw[i] += d[i]*x[i]; }
			}
		}
	}
}

MV void bn_sums(const float* x, int c, double* sum, double* sumsq, int r0, int r1) {
	for (int r = r0; r < r1; r++) {
		const float* restrict row = x + (long)r*c;
		for (int i = 0; i < c; i++) { double v = row[i]; sum[i] += v; sumsq[i] += v*v; }
	}
}

// act_fd returns f(z) and stores f'(z); inlined with a constant 'a' so each
// activation gets its own vectorised loop.
static inline __attribute__((always_inline)) float act_fd(int a, float z, float* d) {
	switch (a) {
	case 1: *d = z > 0 ? 1.f : 0.f; return z > 0 ? z : 0.f;
	case 2: *d = (z > 0 && z < 6) ? 1.f : 0.f; return z <= 0 ? 0.f : (z >= 6 ? 6.f : z);
	case 3: if (z <= -3) { *d = 0; return 0; }
		if (z >= 3) { *d = 1; return z; }
		*d = (2*z + 3)/6; return z*(z + 3)/6;
	case 4: { float s = 1.f/(1.f + expf(-z)); *d = s*(1 - s); return s; }
	}
	*d = 1; return z;
}

#define PER_ACT(a, ...) switch (a) { \
	case 0: { const int A = 0; __VA_ARGS__; } break; case 1: { const int A = 1; __VA_ARGS__; } break; \
	case 2: { const int A = 2; __VA_ARGS__; } break; case 3: { const int A = 3; __VA_ARGS__; } break; \
	default: { const int A = 4; __VA_ARGS__; } }

MV void bn_act_fwd(int a, const float* x, float* y, int c, const float* scale, const float* shift, int r0, int r1) {
	PER_ACT(a, for (int r = r0; r < r1; r++) {
		const float* restrict xr = x + (long)r*c; float* restrict yr = y + (long)r*c;
		for (int i = 0; i < c; i++) { float d; yr[i] = act_fd(A, xr[i]*scale[i] + shift[i], &d); }
	})
}

MV void bn_act_bwd_sums(int a, const float* x, const float* dy, int c, const float* mean, const float* invstd,
		const float* gamma, const float* beta, double* sg, double* sgx, int r0, int r1) {
	PER_ACT(a, for (int r = r0; r < r1; r++) {
		const float* restrict xr = x + (long)r*c; const float* restrict dr = dy + (long)r*c;
		for (int i = 0; i < c; i++) {
			float xh = (xr[i] - mean[i])*invstd[i], d;
			act_fd(A, xh*gamma[i] + beta[i], &d);
			float gg = dr[i]*d;
			sg[i] += gg; sgx[i] += gg*xh;
		}
	})
}

MV void bn_act_bwd_dx(int a, const float* x, const float* dy, float* dx, int c, const float* mean, const float* invstd,
		const float* gamma, const float* beta, const float* k, const float* mg, const float* mgx, int r0, int r1) {
	PER_ACT(a, for (int r = r0; r < r1; r++) {
		const float* restrict xr = x + (long)r*c; const float* restrict dr = dy + (long)r*c;
		float* restrict o = dx + (long)r*c;
		for (int i = 0; i < c; i++) {
			float xh = (xr[i] - mean[i])*invstd[i], d;
			act_fd(A, xh*gamma[i] + beta[i], &d);
			o[i] = k[i]*(dr[i]*d - mg[i] - xh*mgx[i]);
		}
	})
}
*/
import "C"

import "unsafe"

// Backend names the kernel implementation compiled in.
const Backend = "openblas+c"

func fp(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func dp(s []float64) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&s[0]))
}

func cgeom(g convGeom) C.geom {
	return C.geom{H: C.int(g.H), W: C.int(g.W), C: C.int(g.C), K: C.int(g.K), S: C.int(g.S),
		OH: C.int(g.OH), OW: C.int(g.OW), PT: C.int(g.PT), PL: C.int(g.PL)}
}

// gemm is C = alpha*op(A)*op(B) + beta*C (row-major) through OpenBLAS.
// OpenBLAS runs single-threaded (see init) and large products are split
// across cores here, by rows of C or, when C has few rows, by columns:
// OpenBLAS's own worker threads spin-wait between calls and steal the cores
// from the Go-side loops that run in between.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	nw := workers()
	if nw == 1 || m*n*k < 1<<18 {
		sgemm1(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m >= n {
		parallel(m, func(_, lo, hi int) {
			ao := lo * lda
			if transA {
				ao = lo
			}
			sgemm1(transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	parallel(n, func(_, lo, hi int) {
		bo := lo
		if transB {
			bo = lo * ldb
		}
		sgemm1(transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
	})
}

func sgemm1(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		fp(a), C.blasint(lda), fp(b), C.blasint(ldb), C.float(beta), fp(c), C.blasint(ldc))
}

func init() { C.openblas_set_num_threads(1) }

func dwForward(g convGeom, in, wt, out []float32, b0, b1 int) {
	cg := cgeom(g)
	C.dw_fwd(&cg, fp(in), fp(wt), fp(out), C.int(b0), C.int(b1))
}

func dwBackward(g convGeom, in, wt, dout, din, dwt []float32, b0, b1 int) {
	cg := cgeom(g)
	C.dw_bwd(&cg, fp(in), fp(wt), fp(dout), fp(din), fp(dwt), C.int(b0), C.int(b1))
}

func bnSums(x []float32, c int, sum, sumsq []float64, r0, r1 int) {
	C.bn_sums(fp(x), C.int(c), dp(sum), dp(sumsq), C.int(r0), C.int(r1))
}

func bnActFwd(a Act, x, y []float32, c int, scale, shift []float32, r0, r1 int) {
	C.bn_act_fwd(C.int(a), fp(x), fp(y), C.int(c), fp(scale), fp(shift), C.int(r0), C.int(r1))
}

func bnActBwdSums(a Act, x, dy []float32, c int, mean, invstd, gamma, beta []float32, sg, sgx []float64, r0, r1 int) {
	C.bn_act_bwd_sums(C.int(a), fp(x), fp(dy), C.int(c), fp(mean), fp(invstd), fp(gamma), fp(beta), dp(sg), dp(sgx), C.int(r0), C.int(r1))
}

func bnActBwdDx(a Act, x, dy, dx []float32, c int, mean, invstd, gamma, beta, k, mg, mgx []float32, r0, r1 int) {
	C.bn_act_bwd_dx(C.int(a), fp(x), fp(dy), fp(dx), C.int(c), fp(mean), fp(invstd), fp(gamma), fp(beta), fp(k), fp(mg), fp(mgx), C.int(r0), C.int(r1))
}
