package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dense is a fully connected layer with bias over each sample's flattened
// H*W*C features; its output is N x 1 x 1 x Out.
type Dense struct {
	Weight, Bias *Param // [Out][In], [Out]
	In, Out      int
	x            *Tensor
	y, dx        Tensor
}

// NewDense returns a dense layer initialised uniformly in +-1/sqrt(in)
// (the Keras/TF default for classifier heads), bias zero.
func NewDense(name string, in, out int, rng *rand.Rand) *Dense {
	d := &Dense{Weight: newParam(name+"/w", false, out, in), Bias: newParam(name+"/b", true, out), In: in, Out: out}
	uniformInit(d.Weight.W, 1/math.Sqrt(float64(in)), rng)
	return d
}

// Forward computes x*W^T + b.
func (d *Dense) Forward(x *Tensor, train bool) *Tensor {
	if x.H*x.W*x.C != d.In {
		panic(fmt.Sprintf("dense %s: input %s, want %d features", d.Weight.Name, x.Shape(), d.In))
	}
	d.x = x
	d.y.Ensure(x.N, 1, 1, d.Out)
	for n := range x.N {
		copy(d.y.Data[n*d.Out:(n+1)*d.Out], d.Bias.W)
	}
	gemm(false, true, x.N, d.Out, d.In, 1, x.Data, d.In, d.Weight.W, d.In, 1, d.y.Data, d.Out)
	return &d.y
}

// Backward accumulates dW, db and returns dx (shaped like the input).
func (d *Dense) Backward(dy *Tensor) *Tensor {
	x := d.x
	gemm(true, false, d.Out, d.In, x.N, 1, dy.Data, d.Out, x.Data, d.In, 1, d.Weight.G, d.In)
	for n := range x.N {
		for o, v := range dy.Data[n*d.Out : (n+1)*d.Out] {
			d.Bias.G[o] += v
		}
	}
	d.dx.Ensure(x.N, x.H, x.W, x.C)
	gemm(false, false, x.N, d.In, d.Out, 1, dy.Data, d.Out, d.Weight.W, d.In, 0, d.dx.Data, d.In)
	return &d.dx
}

// Params returns weight and bias.
func (d *Dense) Params() []*Param { return []*Param{d.Weight, d.Bias} }

// Buffers returns nothing.
func (d *Dense) Buffers() []*Param { return nil }

// GlobalAvgPool averages each channel over H and W.
type GlobalAvgPool struct {
	x     *Tensor
	y, dx Tensor
}

// Forward returns N x 1 x 1 x C means.
func (p *GlobalAvgPool) Forward(x *Tensor, train bool) *Tensor {
	p.x = x
	p.y.Ensure(x.N, 1, 1, x.C)
	avgPool(x, p.y.Data)
	return &p.y
}

func avgPool(x *Tensor, out []float32) {
	hw, c := x.H*x.W, x.C
	inv := 1 / float32(hw)
	for n := range x.N {
		o := out[n*c : (n+1)*c]
		clear(o)
		for r := range hw {
			row := x.Data[(n*hw+r)*c:][:c]
			for i, v := range row {
				o[i] += v
			}
		}
		for i := range o {
			o[i] *= inv
		}
	}
}

// Backward spreads dy/(H*W) over every position.
func (p *GlobalAvgPool) Backward(dy *Tensor) *Tensor {
	x := p.x
	p.dx.Ensure(x.N, x.H, x.W, x.C)
	hw, c := x.H*x.W, x.C
	inv := 1 / float32(hw)
	for n := range x.N {
		g := dy.Data[n*c : (n+1)*c]
		for r := range hw {
			row := p.dx.Data[(n*hw+r)*c:][:c]
			for i, v := range g {
				row[i] = v * inv
			}
		}
	}
	return &p.dx
}

// Params returns nothing.
func (p *GlobalAvgPool) Params() []*Param { return nil }

// Buffers returns nothing.
func (p *GlobalAvgPool) Buffers() []*Param { return nil }
