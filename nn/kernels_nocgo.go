//go:build !cgo

package nn

// Backend names the kernel implementation compiled in.
const Backend = "pure-go"

func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmParallelGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dwForward(g convGeom, in, wt, out []float32, b0, b1 int) { dwForwardGo(g, in, wt, out, b0, b1) }

func dwBackward(g convGeom, in, wt, dout, din, dwt []float32, b0, b1 int) {
	dwBackwardGo(g, in, wt, dout, din, dwt, b0, b1)
}

func bnSums(x []float32, c int, sum, sumsq []float64, r0, r1 int) { bnSumsGo(x, c, sum, sumsq, r0, r1) }

func bnActFwd(a Act, x, y []float32, c int, scale, shift []float32, r0, r1 int) {
	bnActFwdGo(a, x, y, c, scale, shift, r0, r1)
}

func bnActBwdSums(a Act, x, dy []float32, c int, mean, invstd, gamma, beta []float32, sg, sgx []float64, r0, r1 int) {
	bnActBwdSumsGo(a, x, dy, c, mean, invstd, gamma, beta, sg, sgx, r0, r1)
}

func bnActBwdDx(a Act, x, dy, dx []float32, c int, mean, invstd, gamma, beta, k, mg, mgx []float32, r0, r1 int) {
	bnActBwdDxGo(a, x, dy, dx, c, mean, invstd, gamma, beta, k, mg, mgx, r0, r1)
}
