package nn

import (
	"fmt"
	"math"
)

// KernelNorm is the L2 norm of the centred sub x sub window of a depthwise
// weight (layout [k][k][C]) over channels [c0,c1). With exclude > 0 the
// centred exclude x exclude window is left out, giving the Single-Path NAS
// "outer ring" norm ||w_5x5 \ w_3x3||.
func KernelNorm(w []float32, k, c, sub, exclude, c0, c1 int) (float64, error) {
	if len(w) != k*k*c || sub > k || sub%2 != k%2 || exclude >= sub || exclude < 0 || c0 < 0 || c1 > c || c0 >= c1 {
		return 0, fmt.Errorf("kernel norm: bad window sub %d exclude %d channels [%d,%d) of a %dx%dx%d kernel (%d values)", sub, exclude, c0, c1, k, k, c, len(w))
	}
	off, ex := (k-sub)/2, (k-exclude)/2
	var s float64
	for ky := off; ky < off+sub; ky++ {
		for kx := off; kx < off+sub; kx++ {
			if exclude > 0 && ky >= ex && ky < ex+exclude && kx >= ex && kx < ex+exclude {
				continue
			}
			for _, v := range w[(ky*k+kx)*c+c0 : (ky*k+kx)*c+c1] {
				s += float64(v) * float64(v)
			}
		}
	}
	return math.Sqrt(s), nil
}
