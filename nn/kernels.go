package nn

import "math"

// Act is an elementwise activation, fused into batch norm where it follows one.
type Act int

// Activations. The numeric values are shared with the C kernels.
const (
	ActNone Act = iota
	ActReLU
	ActReLU6
	ActHSwish
	ActSigmoid
)

// ParseAct maps a space activation name to an Act.
func ParseAct(s string) (Act, bool) {
	switch s {
	case "", "none", "linear":
		return ActNone, true
	case "relu":
		return ActReLU, true
	case "relu6":
		return ActReLU6, true
	case "hswish", "hard_swish", "h-swish":
		return ActHSwish, true
	case "sigmoid":
		return ActSigmoid, true
	}
	return 0, false
}

func (a Act) String() string {
	return [...]string{"none", "relu", "relu6", "hswish", "sigmoid"}[a]
}

// actF returns f(z) and f'(z). At the kinks (0 and 6 for ReLU6, +-3 for
// hard-swish) the derivative is taken from the flat side, as TensorFlow does.
func actF(a Act, z float32) (y, d float32) {
	switch a {
	case ActReLU:
		if z > 0 {
			return z, 1
		}
		return 0, 0
	case ActReLU6:
		if z <= 0 {
			return 0, 0
		}
		if z >= 6 {
			return 6, 0
		}
		return z, 1
	case ActHSwish:
		if z <= -3 {
			return 0, 0
		}
		if z >= 3 {
			return z, 1
		}
		return z * (z + 3) / 6, (2*z + 3) / 6
	case ActSigmoid:
		s := float32(1 / (1 + math.Exp(-float64(z))))
		return s, s * (1 - s)
	}
	return z, 1
}

// convGeom is the NHWC geometry shared by the spatial kernels. Padding is
// TensorFlow SAME: the extra row/column of an odd total goes bottom/right.
type convGeom struct {
	H, W, C, K, S, OH, OW, PT, PL int
}

func sameGeom(h, w, c, k, s int) convGeom {
	oh, ow := (h+s-1)/s, (w+s-1)/s
	pad := func(in, out int) int { return max((out-1)*s+k-in, 0) / 2 }
	return convGeom{H: h, W: w, C: c, K: k, S: s, OH: oh, OW: ow, PT: pad(h, oh), PL: pad(w, ow)}
}

// dwForwardGo computes a depthwise convolution for images [b0,b1).
func dwForwardGo(g convGeom, in, wt, out []float32, b0, b1 int) {
	c := g.C
	for b := b0; b < b1; b++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				o := out[((b*g.OH+oy)*g.OW+ox)*c:][:c]
				clear(o)
				for ky := 0; ky < g.K; ky++ {
					iy := oy*g.S + ky - g.PT
					if iy < 0 || iy >= g.H {
						continue
					}
					for kx := 0; kx < g.K; kx++ {
						ix := ox*g.S + kx - g.PL
						if ix < 0 || ix >= g.W {
							continue
						}
						x := in[((b*g.H+iy)*g.W+ix)*c:][:c]
						w := wt[(ky*g.K+kx)*c:][:c]
						for i := range o {
							o[i] += x[i] * w[i]
						}
					}
				}
			}
		}
	}
}

// dwBackwardGo overwrites din for images [b0,b1) and accumulates the
// weight gradient of those images into dwt.
func dwBackwardGo(g convGeom, in, wt, dout, din, dwt []float32, b0, b1 int) {
	c := g.C
	clear(din[b0*g.H*g.W*c : b1*g.H*g.W*c])
	for b := b0; b < b1; b++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				d := dout[((b*g.OH+oy)*g.OW+ox)*c:][:c]
				for ky := 0; ky < g.K; ky++ {
					iy := oy*g.S + ky - g.PT
					if iy < 0 || iy >= g.H {
						continue
					}
					for kx := 0; kx < g.K; kx++ {
						ix := ox*g.S + kx - g.PL
						if ix < 0 || ix >= g.W {
							continue
						}
						off := ((b*g.H+iy)*g.W + ix) * c
						x := in[off:][:c]
						dx := din[off:][:c]
						w := wt[(ky*g.K+kx)*c:][:c]
						dw := dwt[(ky*g.K+kx)*c:][:c]
						for i, dv := range d {
							dx[i] += dv * w[i]
							dw[i] += dv * x[i]
						}
					}
				}
			}
		}
	}
}

// bnSumsGo adds per-channel sums and sums of squares of rows [r0,r1).
func bnSumsGo(x []float32, c int, sum, sumsq []float64, r0, r1 int) {
	for r := r0; r < r1; r++ {
		row := x[r*c:][:c]
		for i, v := range row {
			sum[i] += float64(v)
			sumsq[i] += float64(v) * float64(v)
		}
	}
}

// bnActFwdGo computes y = act(x*scale + shift) per channel for rows [r0,r1).
func bnActFwdGo(a Act, x, y []float32, c int, scale, shift []float32, r0, r1 int) {
	for r := r0; r < r1; r++ {
		xr, yr := x[r*c:][:c], y[r*c:][:c]
		for i, v := range xr {
			yr[i], _ = actF(a, v*scale[i]+shift[i])
		}
	}
}

// bnActBwdSumsGo accumulates, for rows [r0,r1), sg = sum(g) and
// sgx = sum(g*xhat), where g = dy*act'(z) and z = xhat*gamma+beta.
func bnActBwdSumsGo(a Act, x, dy []float32, c int, mean, invstd, gamma, beta []float32, sg, sgx []float64, r0, r1 int) {
	for r := r0; r < r1; r++ {
		xr, dr := x[r*c:][:c], dy[r*c:][:c]
		for i, v := range xr {
			xh := (v - mean[i]) * invstd[i]
			_, d := actF(a, xh*gamma[i]+beta[i])
			g := dr[i] * d
			sg[i] += float64(g)
			sgx[i] += float64(g * xh)
		}
	}
}

// bnActBwdDxGo writes dx = k*(g - mg - xhat*mgx) for rows [r0,r1), where k
// is gamma*invstd and mg, mgx are the batch means of g and g*xhat.
func bnActBwdDxGo(a Act, x, dy, dx []float32, c int, mean, invstd, gamma, beta, k, mg, mgx []float32, r0, r1 int) {
	for r := r0; r < r1; r++ {
		xr, dr, or := x[r*c:][:c], dy[r*c:][:c], dx[r*c:][:c]
		for i, v := range xr {
			xh := (v - mean[i]) * invstd[i]
			_, d := actF(a, xh*gamma[i]+beta[i])
			or[i] = k[i] * (dr[i]*d - mg[i] - xh*mgx[i])
		}
	}
}
