package nn

import (
	"math"
	"math/rand/v2"
)

// SE is squeeze-and-excitation: y = x * sigmoid(W2*relu(W1*mean_hw(x)+b1)+b2),
// the gate broadcast over H and W.
type SE struct {
	Reduce, Expand *Dense
	C, S           int
	x              *Tensor
	pooled         Tensor
	relu, sig      Activation
	gate           *Tensor
	dgate          Tensor
	y, dx          Tensor
}

// NewSE returns an SE block over c channels with an s-wide bottleneck.
// Biases start at 0, so the gate starts near sigmoid(0) = 0.5.
func NewSE(name string, c, s int, rng *rand.Rand) *SE {
	se := &SE{Reduce: NewDense(name+"/reduce", c, s, rng), Expand: NewDense(name+"/expand", s, c, rng), C: c, S: s}
	se.relu.Act, se.sig.Act = ActReLU, ActSigmoid
	heNormal(se.Reduce.Weight.W, s, rng)
	heNormal(se.Expand.Weight.W, c, rng)
	return se
}

// Forward gates x channel-wise.
func (se *SE) Forward(x *Tensor, train bool) *Tensor {
	se.x = x
	se.pooled.Ensure(x.N, 1, 1, x.C)
	avgPool(x, se.pooled.Data)
	h := se.relu.Forward(se.Reduce.Forward(&se.pooled, train), train)
	se.gate = se.sig.Forward(se.Expand.Forward(h, train), train)
	se.y.Ensure(x.N, x.H, x.W, x.C)
	hw, c := x.H*x.W, x.C
	parallel(x.N, func(_, n0, n1 int) {
		for n := n0; n < n1; n++ {
			g := se.gate.Data[n*c : (n+1)*c]
			for r := n * hw; r < (n+1)*hw; r++ {
				xr, yr := x.Data[r*c:][:c], se.y.Data[r*c:][:c]
				for i, v := range xr {
					yr[i] = v * g[i]
				}
			}
		}
	})
	return &se.y
}

// Backward returns dx = dy*gate + (d pooled)/(H*W) and accumulates the FC grads.
func (se *SE) Backward(dy *Tensor) *Tensor {
	x := se.x
	hw, c := x.H*x.W, x.C
	se.dgate.Ensure(x.N, 1, 1, c)
	parallel(x.N, func(_, n0, n1 int) {
		for n := n0; n < n1; n++ {
			dg := se.dgate.Data[n*c : (n+1)*c]
			clear(dg)
			for r := n * hw; r < (n+1)*hw; r++ {
				xr, dr := x.Data[r*c:][:c], dy.Data[r*c:][:c]
				for i, v := range xr {
					dg[i] += v * dr[i]
				}
			}
		}
	})
	dp := se.Reduce.Backward(se.relu.Backward(se.Expand.Backward(se.sig.Backward(&se.dgate))))
	se.dx.Ensure(x.N, x.H, x.W, c)
	inv := 1 / float32(hw)
	parallel(x.N, func(_, n0, n1 int) {
		for n := n0; n < n1; n++ {
			g, p := se.gate.Data[n*c:(n+1)*c], dp.Data[n*c:(n+1)*c]
			for r := n * hw; r < (n+1)*hw; r++ {
				dr, or := dy.Data[r*c:][:c], se.dx.Data[r*c:][:c]
				for i, v := range dr {
					or[i] = v*g[i] + p[i]*inv
				}
			}
		}
	})
	return &se.dx
}

// Params returns both FC layers' weights and biases.
func (se *SE) Params() []*Param { return append(se.Reduce.Params(), se.Expand.Params()...) }

// Buffers returns nothing.
func (se *SE) Buffers() []*Param { return nil }

// SoftmaxCE is softmax cross-entropy against label-smoothed targets
// q = (1-Smoothing)*onehot + Smoothing/K, averaged over the batch.
type SoftmaxCE struct {
	Smoothing float32
	dlogits   Tensor
}

// Forward returns the mean loss and the number of correct argmax
// predictions, and prepares the gradient for Backward.
func (l *SoftmaxCE) Forward(logits *Tensor, labels []int) (loss float64, correct int) {
	n, k := logits.N, logits.H*logits.W*logits.C
	l.dlogits.Ensure(logits.N, logits.H, logits.W, logits.C)
	off := float64(l.Smoothing) / float64(k)
	on := 1 - float64(l.Smoothing) + off
	for i := range n {
		z := logits.Data[i*k : (i+1)*k]
		best := 0
		for j, v := range z {
			if v > z[best] {
				best = j
			}
		}
		if best == labels[i] {
			correct++
		}
		var s float64
		for _, v := range z {
			s += math.Exp(float64(v - z[best]))
		}
		lse := float64(z[best]) + math.Log(s)
		g := l.dlogits.Data[i*k : (i+1)*k]
		for j, v := range z {
			q := off
			if j == labels[i] {
				q = on
			}
			logp := float64(v) - lse
			loss -= q * logp
			g[j] = float32((math.Exp(logp) - q) / float64(n))
		}
	}
	return loss / float64(n), correct
}

// Backward returns dL/dlogits from the last Forward.
func (l *SoftmaxCE) Backward() *Tensor { return &l.dlogits }
