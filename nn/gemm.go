package nn

// sgemmGo is the pure-Go reference of gemm: C = alpha*op(A)*op(B) + beta*C,
// row-major, op(X) = X or X^T. It is used when cgo is off and by tests
// that check the OpenBLAS path against it.
func sgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if !transB {
				br := b[p*ldb : p*ldb+n]
				for j, bv := range br {
					row[j] += av * bv
				}
			} else {
				for j := range row {
					row[j] += av * b[j*ldb+p]
				}
			}
		}
	}
}

// gemmRows splits a non-transposed-A GEMM over row blocks for the pure-Go
// path, which has no threading of its own.
func gemmParallelGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if transA || m < 64 {
		sgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	parallel(m, func(_, lo, hi int) {
		sgemmGo(false, transB, hi-lo, n, k, alpha, a[lo*lda:], lda, b, ldb, beta, c[lo*ldc:], ldc)
	})
}
