package nn

import (
	"fmt"
	"math/rand/v2"
)

// Conv is a dense (groups=1) KxK convolution with SAME padding, no bias
// (a batch norm follows). 1x1 stride-1 convolutions are a single GEMM over
// the N*H*W rows; others go through im2col (only the stem in our spaces).
type Conv struct {
	Weight        *Param // [Cout][K][K][Cin]
	K, S, Cin, Co int
	maskState
	x        *Tensor
	col, dco []float32
	y, dx    Tensor
}

// NewConv returns a He-initialised convolution.
func NewConv(name string, cin, cout, k, stride int, rng *rand.Rand) *Conv {
	c := &Conv{Weight: newParam(name+"/w", false, cout, k, k, cin), K: k, S: stride, Cin: cin, Co: cout}
	heNormal(c.Weight.W, k*k*cout, rng)
	return c
}

func (c *Conv) pointwise() bool { return c.K == 1 && c.S == 1 }

// Forward computes the convolution of x (NHWC, C == Cin).
func (c *Conv) Forward(x *Tensor, train bool) *Tensor {
	if x.C != c.Cin {
		panic(fmt.Sprintf("conv %s: input %s, want %d channels", c.Weight.Name, x.Shape(), c.Cin))
	}
	c.x = x
	w := c.weight(c.Weight)
	kc := c.K * c.K * c.Cin
	if c.pointwise() {
		c.y.Ensure(x.N, x.H, x.W, c.Co)
		gemm(false, true, x.Rows(), c.Co, c.Cin, 1, x.Data, c.Cin, w, c.Cin, 0, c.y.Data, c.Co)
		return &c.y
	}
	g := sameGeom(x.H, x.W, x.C, c.K, c.S)
	c.y.Ensure(x.N, g.OH, g.OW, c.Co)
	m := c.y.Rows()
	c.col = growF32(c.col, m*kc)
	im2col(g, x, c.col)
	gemm(false, true, m, c.Co, kc, 1, c.col, kc, w, kc, 0, c.y.Data, c.Co)
	return &c.y
}

// Backward accumulates dW and returns dx.
func (c *Conv) Backward(dy *Tensor) *Tensor {
	x := c.x
	kc := c.K * c.K * c.Cin
	gw := c.gradTarget(c.Weight)
	w := c.Weight.W
	if c.mask != nil {
		w = c.weff
	}
	c.dx.Ensure(x.N, x.H, x.W, x.C)
	m := dy.Rows()
	if c.pointwise() {
		gemm(true, false, c.Co, kc, m, 1, dy.Data, c.Co, x.Data, c.Cin, 1, gw, kc)
		gemm(false, false, m, c.Cin, c.Co, 1, dy.Data, c.Co, w, kc, 0, c.dx.Data, c.Cin)
	} else {
		gemm(true, false, c.Co, kc, m, 1, dy.Data, c.Co, c.col, kc, 1, gw, kc)
		c.dco = growF32(c.dco, m*kc)
		gemm(false, false, m, kc, c.Co, 1, dy.Data, c.Co, w, kc, 0, c.dco, kc)
		col2im(sameGeom(x.H, x.W, x.C, c.K, c.S), c.dco, &c.dx)
	}
	c.finishGrad(c.Weight)
	return &c.dx
}

// Params returns the weight.
func (c *Conv) Params() []*Param { return []*Param{c.Weight} }

// Buffers returns nothing: a convolution has no running state.
func (c *Conv) Buffers() []*Param { return nil }

// im2col lays out each output position's KxKxCin receptive field as a row
// (zeros where the window hangs over the SAME padding).
func im2col(g convGeom, x *Tensor, col []float32) {
	kc := g.K * g.K * g.C
	parallel(x.N, func(_, b0, b1 int) {
		for b := b0; b < b1; b++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					row := col[((b*g.OH+oy)*g.OW+ox)*kc:][:kc]
					for ky := 0; ky < g.K; ky++ {
						iy := oy*g.S + ky - g.PT
						for kx := 0; kx < g.K; kx++ {
							ix := ox*g.S + kx - g.PL
							dst := row[(ky*g.K+kx)*g.C:][:g.C]
							if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
								clear(dst)
								continue
							}
							copy(dst, x.Data[((b*g.H+iy)*g.W+ix)*g.C:][:g.C])
						}
					}
				}
			}
		}
	})
}

// col2im is im2col's adjoint: it sums each row's entries back into dx.
func col2im(g convGeom, col []float32, dx *Tensor) {
	kc := g.K * g.K * g.C
	clear(dx.Data)
	parallel(dx.N, func(_, b0, b1 int) {
		for b := b0; b < b1; b++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					row := col[((b*g.OH+oy)*g.OW+ox)*kc:][:kc]
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
							src := row[(ky*g.K+kx)*g.C:][:g.C]
							dst := dx.Data[((b*g.H+iy)*g.W+ix)*g.C:][:g.C]
							for i, v := range src {
								dst[i] += v
							}
						}
					}
				}
			}
		}
	})
}

// Depthwise is a KxK depthwise convolution (one filter per channel, SAME
// padding, stride S, no bias), the MBConv workhorse. Its weight layout
// [K][K][C] makes a centred sub-kernel or a channel range easy to address
// (see KernelNorm).
type Depthwise struct {
	Weight  *Param // [K][K][C]
	K, S, C int
	maskState
	x       *Tensor
	g       convGeom
	partial [][]float32
	y, dx   Tensor
}

// NewDepthwise returns a He-initialised (fan-out K*K) depthwise convolution.
func NewDepthwise(name string, c, k, stride int, rng *rand.Rand) *Depthwise {
	d := &Depthwise{Weight: newParam(name+"/w", false, k, k, c), K: k, S: stride, C: c}
	heNormal(d.Weight.W, k*k, rng)
	return d
}

// Forward runs the convolution, images split across cores.
func (d *Depthwise) Forward(x *Tensor, train bool) *Tensor {
	if x.C != d.C {
		panic(fmt.Sprintf("depthwise %s: input %s, want %d channels", d.Weight.Name, x.Shape(), d.C))
	}
	d.x = x
	d.g = sameGeom(x.H, x.W, x.C, d.K, d.S)
	d.y.Ensure(x.N, d.g.OH, d.g.OW, d.C)
	w := d.weight(d.Weight)
	parallel(x.N, func(_, b0, b1 int) { dwForward(d.g, x.Data, w, d.y.Data, b0, b1) })
	return &d.y
}

// Backward accumulates dW (per-core partial sums, then reduced) and returns dx.
func (d *Depthwise) Backward(dy *Tensor) *Tensor {
	x := d.x
	d.dx.Ensure(x.N, x.H, x.W, x.C)
	w := d.Weight.W
	if d.mask != nil {
		w = d.weff
	}
	nw := workers()
	for len(d.partial) < nw {
		d.partial = append(d.partial, make([]float32, len(w)))
	}
	parallel(x.N, func(wk, b0, b1 int) {
		p := d.partial[wk]
		clear(p)
		dwBackward(d.g, x.Data, w, dy.Data, d.dx.Data, p, b0, b1)
	})
	gw := d.gradTarget(d.Weight)
	for wk := 0; wk < min(nw, x.N); wk++ {
		for i, v := range d.partial[wk] {
			gw[i] += v
		}
	}
	d.finishGrad(d.Weight)
	return &d.dx
}

// Params returns the weight.
func (d *Depthwise) Params() []*Param { return []*Param{d.Weight} }

// Buffers returns nothing.
func (d *Depthwise) Buffers() []*Param { return nil }
