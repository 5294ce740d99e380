package nn

import "math"

// BatchNorm normalises each channel over the N*H*W rows and applies an
// activation in the same pass (y = act(gamma*xhat + beta)). Training uses
// batch statistics and updates the running ones; eval uses the running ones.
type BatchNorm struct {
	Gamma, Beta     *Param
	RunMean, RunVar *Param
	Act             Act
	Momentum, Eps   float32
	C               int
	x               *Tensor
	train           bool
	mean, invstd    []float32
	scale, shift    []float32
	k, mg, mgx      []float32
	sum, sq         [][]float64
	y, dx           Tensor
}

// NewBatchNorm returns a batch norm over c channels, gamma 1 and beta 0,
// epsilon 1e-3 (TensorFlow's) and running-stat momentum 0.9 (PyTorch's):
// TensorFlow's 0.99 leaves the running variance dominated by its initial 1
// for the first few hundred steps, and NAS runs here are short.
func NewBatchNorm(name string, c int, act Act) *BatchNorm {
	b := &BatchNorm{
		Gamma: newParam(name+"/gamma", true, c), Beta: newParam(name+"/beta", true, c),
		RunMean: newBuffer(name+"/mean", c), RunVar: newBuffer(name+"/var", c),
		Act: act, Momentum: 0.9, Eps: 1e-3, C: c,
		mean: make([]float32, c), invstd: make([]float32, c), scale: make([]float32, c), shift: make([]float32, c),
		k: make([]float32, c), mg: make([]float32, c), mgx: make([]float32, c),
	}
	for i := range c {
		b.Gamma.W[i] = 1
		b.RunVar.W[i] = 1
	}
	return b
}

// partials returns per-worker float64 accumulators, zeroed.
func (b *BatchNorm) partials() {
	for len(b.sum) < workers() {
		b.sum = append(b.sum, make([]float64, b.C))
		b.sq = append(b.sq, make([]float64, b.C))
	}
	for i := range b.sum {
		clear(b.sum[i])
		clear(b.sq[i])
	}
}

func (b *BatchNorm) reduce() (sum, sq []float64) {
	for i := 1; i < len(b.sum); i++ {
		for c := range b.C {
			b.sum[0][c] += b.sum[i][c]
			b.sq[0][c] += b.sq[i][c]
		}
	}
	return b.sum[0], b.sq[0]
}

// Forward normalises x and applies the activation.
func (b *BatchNorm) Forward(x *Tensor, train bool) *Tensor {
	b.x, b.train = x, train
	rows, c := x.Rows(), b.C
	if train {
		b.partials()
		parallel(rows, func(w, r0, r1 int) { bnSums(x.Data, c, b.sum[w], b.sq[w], r0, r1) })
		sum, sq := b.reduce()
		for i := range c {
			m := sum[i] / float64(rows)
			v := max(sq[i]/float64(rows)-m*m, 0)
			b.mean[i] = float32(m)
			b.invstd[i] = float32(1 / math.Sqrt(v+float64(b.Eps)))
			b.RunMean.W[i] = b.Momentum*b.RunMean.W[i] + (1-b.Momentum)*float32(m)
			b.RunVar.W[i] = b.Momentum*b.RunVar.W[i] + (1-b.Momentum)*float32(v)
		}
	} else {
		for i := range c {
			b.mean[i] = b.RunMean.W[i]
			b.invstd[i] = float32(1 / math.Sqrt(float64(b.RunVar.W[i])+float64(b.Eps)))
		}
	}
	for i := range c {
		b.scale[i] = b.Gamma.W[i] * b.invstd[i]
		b.shift[i] = b.Beta.W[i] - b.mean[i]*b.scale[i]
	}
	b.y.Ensure(x.N, x.H, x.W, x.C)
	parallel(rows, func(_, r0, r1 int) { bnActFwd(b.Act, x.Data, b.y.Data, c, b.scale, b.shift, r0, r1) })
	return &b.y
}

// Backward accumulates dgamma, dbeta and returns dx. After an eval-mode
// forward the statistics are constants, so the batch-mean terms drop out.
func (b *BatchNorm) Backward(dy *Tensor) *Tensor {
	x := b.x
	rows, c := x.Rows(), b.C
	b.partials()
	parallel(rows, func(w, r0, r1 int) {
		bnActBwdSums(b.Act, x.Data, dy.Data, c, b.mean, b.invstd, b.Gamma.W, b.Beta.W, b.sum[w], b.sq[w], r0, r1)
	})
	sg, sgx := b.reduce()
	for i := range c {
		b.Beta.G[i] += float32(sg[i])
		b.Gamma.G[i] += float32(sgx[i])
		b.k[i] = b.Gamma.W[i] * b.invstd[i]
		if b.train {
			b.mg[i] = float32(sg[i] / float64(rows))
			b.mgx[i] = float32(sgx[i] / float64(rows))
		} else {
			b.mg[i], b.mgx[i] = 0, 0
		}
	}
	b.dx.Ensure(x.N, x.H, x.W, x.C)
	parallel(rows, func(_, r0, r1 int) {
		bnActBwdDx(b.Act, x.Data, dy.Data, b.dx.Data, c, b.mean, b.invstd, b.Gamma.W, b.Beta.W, b.k, b.mg, b.mgx, r0, r1)
	})
	return &b.dx
}

// Params returns gamma and beta.
func (b *BatchNorm) Params() []*Param { return []*Param{b.Gamma, b.Beta} }

// Buffers returns the running mean and variance.
func (b *BatchNorm) Buffers() []*Param { return []*Param{b.RunMean, b.RunVar} }

// Activation is a standalone elementwise activation (where no batch norm
// precedes it). It reuses the fused batch-norm kernels with an identity
// normalisation (scale 1, shift 0), so it gets the same vectorised loops.
type Activation struct {
	Act        Act
	x          *Tensor
	ones, zero []float32
	y, dx      Tensor
}

func (a *Activation) identity(c int) {
	if len(a.ones) != c {
		a.ones, a.zero = make([]float32, c), make([]float32, c)
		for i := range a.ones {
			a.ones[i] = 1
		}
	}
}

// Forward applies the activation.
func (a *Activation) Forward(x *Tensor, train bool) *Tensor {
	a.x = x
	a.identity(x.C)
	a.y.Ensure(x.N, x.H, x.W, x.C)
	parallel(x.Rows(), func(_, r0, r1 int) { bnActFwd(a.Act, x.Data, a.y.Data, x.C, a.ones, a.zero, r0, r1) })
	return &a.y
}

// Backward returns dy * act'(x).
func (a *Activation) Backward(dy *Tensor) *Tensor {
	x := a.x
	a.dx.Ensure(x.N, x.H, x.W, x.C)
	o, z := a.ones, a.zero
	parallel(x.Rows(), func(_, r0, r1 int) { bnActBwdDx(a.Act, x.Data, dy.Data, a.dx.Data, x.C, z, o, o, z, o, z, z, r0, r1) })
	return &a.dx
}

// Params returns nothing.
func (a *Activation) Params() []*Param { return nil }

// Buffers returns nothing.
func (a *Activation) Buffers() []*Param { return nil }
