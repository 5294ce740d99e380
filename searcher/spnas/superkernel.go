package spnas

import (
	"fmt"
	"math"
	"math/rand/v2"

	"edgenas/nn"
	"edgenas/space"
)

// Indicator positions in a Block's threshold and indicator vectors.
const (
	I5   = 0 // 5x5 kernel (outer ring) on
	I50  = 1 // first half of the expansion channels on (0: skip)
	I100 = 2 // second half on (e6 rather than e3)
	ISE  = 3 // squeeze-and-excitation on
	// NumIndicators is the length of the vectors above.
	NumIndicators = 4
)

// Ind is a vector of the four indicators (or of their thresholds, norms or
// gradients), indexed by I5, I50, I100, ISE.
type Ind [NumIndicators]float64

// Control is the search state shared by every superkernel of a supernet.
type Control struct {
	// Relaxed replaces the hard indicators Ind(n-t) by sigmoid(n-t) in the
	// forward pass. The backward pass is the same either way, so the relaxed
	// network is where the straight-through derivation is gradient-checked.
	Relaxed bool
	// Keep is the indicator-dropout keep probability in training forward
	// passes (1: no dropout). A dropped indicator is forced to 0 for one
	// step, so the smaller sub-kernels and skips get trained on their own.
	Keep float64
	// Rng drives the dropout.
	Rng *rand.Rand
}

// Block is the Single-Path NAS superkernel MBConv of one searchable slot:
// expand 1x1 to 6x channels, one 5x5 depthwise kernel, optional SE, project
// 1x1, with trainable thresholds deciding kernel size, expansion, skip and SE.
//
// Where the masks act (and why not all on the depthwise kernel, as the
// paper's code does): the kernel decision masks the weight's outer ring,
// which is exact (a 5x5 SAME kernel with a zero ring computes the 3x3 SAME
// convolution, strides included). The expansion decision masks the
// depthwise output after its batch norm and activation, because a zeroed
// kernel channel still emits act(beta) after batch norm; masked there, the
// e3 path is exactly an e3 block. The skip decision scales the whole
// residual branch (out = x + d50*branch), exactly the identity at d50 = 0.
// SE is mixed in as h + dSE*(SE(h)-h). The full k5e6+se path is always
// computed, since the straight-through gradients of switched-off options
// need their activations.
type Block struct {
	Slot      space.Slot
	Mid, SE   int // expansion channels (6x input) and SE bottleneck (0: none)
	Skippable bool
	Expand    *nn.Conv
	ExpandBN  *nn.BatchNorm
	DW        *nn.Depthwise
	DWBN      *nn.BatchNorm
	SEL       *nn.SE
	Project   *nn.Conv
	ProjBN    *nn.BatchNorm
	// T holds the thresholds t5, t50, t100, tSE (initialised 0: k5e6+se).
	T *nn.Param
	// Force, when set, replaces the computed indicators (after a forward
	// they still report the norms): tests and fixed-choice evaluation.
	Force *Ind
	// Norm, D and DD are the last forward's norms and indicators (after
	// dropout) and the last backward's dL/dD.
	Norm, D, DD Ind

	ctl                        *Control
	dwMask                     []float32
	x, h2, seOut, h5           *nn.Tensor
	h3, h4, out, dh5, dse, dh3 nn.Tensor
	dh2, dx                    nn.Tensor
}

// NewBlock builds the superkernel for a slot of s (SE searchable when the
// space allows SE).
func NewBlock(name string, s *space.Space, sl space.Slot, ctl *Control, rng *rand.Rand) (*Block, error) {
	act, ok := nn.ParseAct(s.Act)
	if !ok {
		return nil, fmt.Errorf("superkernel %s: unknown activation %q", name, s.Act)
	}
	if ctl == nil {
		return nil, fmt.Errorf("superkernel %s: nil control", name)
	}
	mid := sl.InC * 6
	b := &Block{Slot: sl, Mid: mid, Skippable: sl.Skippable, ctl: ctl}
	b.Expand = nn.NewConv(name+"/expand", sl.InC, mid, 1, 1, rng)
	b.ExpandBN = nn.NewBatchNorm(name+"/expand_bn", mid, act)
	b.DW = nn.NewDepthwise(name+"/dw", mid, 5, sl.Stride, rng)
	b.DWBN = nn.NewBatchNorm(name+"/dw_bn", mid, act)
	if s.SE {
		l, err := s.SlotLayer(sl.Index, space.Choice{Kernel: 5, Expand: 6, SE: true})
		if err != nil {
			return nil, fmt.Errorf("superkernel %s: %w", name, err)
		}
		b.SE = l.SEChannels
		b.SEL = nn.NewSE(name+"/se", mid, b.SE, rng)
	}
	b.Project = nn.NewConv(name+"/project", mid, sl.OutC, 1, 1, rng)
	b.ProjBN = nn.NewBatchNorm(name+"/project_bn", sl.OutC, nn.ActNone)
	b.T = &nn.Param{Name: name + "/thresholds", Shape: []int{NumIndicators},
		W: make([]float32, NumIndicators), G: make([]float32, NumIndicators), NoDecay: true}
	b.dwMask = make([]float32, len(b.DW.Weight.W))
	b.DW.SetMask(b.dwMask)
	return b, nil
}

// Searchable reports whether indicator i is a decision at this slot (d50
// only where the slot may skip, dSE only where the space has SE).
func (b *Block) Searchable(i int) bool {
	switch i {
	case I50:
		return b.Skippable
	case ISE:
		return b.SEL != nil
	}
	return i == I5 || i == I100
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// surrogate is the straight-through derivative of Ind(x): sigmoid'(x).
func surrogate(x float64) float64 {
	s := sigmoid(x)
	return s * (1 - s)
}

// norms computes the RMS norms the thresholds compare against. RMS (L2 norm
// over sqrt(count)) rather than the plain L2 norm keeps every norm near the
// weights' scale (~0.1-1) whatever the layer width: with the plain norm
// (tens for a 5x5x144 kernel) the sigmoid surrogate at n-t would be ~1e-6
// and the thresholds could never move.
func (b *Block) norms() error {
	w, mid := b.DW.Weight.W, b.Mid
	half := mid / 2
	ring, err := nn.KernelNorm(w, 5, mid, 5, 3, 0, mid)
	if err != nil {
		return err
	}
	first, err := nn.KernelNorm(w, 5, mid, 5, 0, 0, half)
	if err != nil {
		return err
	}
	second, err := nn.KernelNorm(w, 5, mid, 5, 0, half, mid)
	if err != nil {
		return err
	}
	b.Norm[I5] = ring / math.Sqrt(float64(16*mid))
	b.Norm[I50] = first / math.Sqrt(float64(25*half))
	b.Norm[I100] = second / math.Sqrt(float64(25*(mid-half)))
	b.Norm[ISE] = 0
	if b.SEL != nil {
		r, e := b.SEL.Reduce.Weight.W, b.SEL.Expand.Weight.W
		b.Norm[ISE] = math.Sqrt((dot(r, r) + dot(e, e)) / float64(len(r)+len(e)))
	}
	return nil
}

// indicators sets D from the norms and thresholds (or Force), applies
// indicator dropout in training, and rebuilds the depthwise mask.
func (b *Block) indicators(train bool) {
	if err := b.norms(); err != nil {
		panic(fmt.Sprintf("superkernel %s: %v", b.T.Name, err)) // sizes are fixed at construction
	}
	for i := range NumIndicators {
		switch {
		case !b.Searchable(i):
			b.D[i] = 0
			if i == I50 {
				b.D[i] = 1
			}
		case b.Force != nil:
			b.D[i] = b.Force[i]
		case b.ctl.Relaxed:
			b.D[i] = sigmoid(b.Norm[i] - float64(b.T.W[i]))
		default:
			b.D[i] = 0
			if b.Norm[i] >= float64(b.T.W[i]) {
				b.D[i] = 1
			}
		}
		if train && b.Force == nil && b.Searchable(i) && b.ctl.Keep < 1 && b.ctl.Rng != nil && b.ctl.Rng.Float64() >= b.ctl.Keep {
			b.D[i] = 0
		}
	}
	d5 := float32(b.D[I5])
	for ky := range 5 {
		for kx := range 5 {
			m := d5
			if ky >= 1 && ky <= 3 && kx >= 1 && kx <= 3 {
				m = 1
			}
			row := b.dwMask[(ky*5+kx)*b.Mid:][:b.Mid]
			for c := range row {
				row[c] = m
			}
		}
	}
}

// Forward runs the superkernel with the current indicators.
func (b *Block) Forward(x *nn.Tensor, train bool) *nn.Tensor {
	b.x = x
	b.indicators(train)
	h := b.ExpandBN.Forward(b.Expand.Forward(x, train), train)
	b.h2 = b.DWBN.Forward(b.DW.Forward(h, train), train)
	h2, mid, half := b.h2, b.Mid, b.Mid/2
	b.h3.Ensure(h2.N, h2.H, h2.W, mid)
	d100 := float32(b.D[I100])
	for r := range h2.Rows() {
		src, dst := h2.Data[r*mid:][:mid], b.h3.Data[r*mid:][:mid]
		copy(dst[:half], src[:half])
		for c := half; c < mid; c++ {
			dst[c] = d100 * src[c]
		}
	}
	h4 := &b.h3
	if b.SEL != nil {
		b.seOut = b.SEL.Forward(&b.h3, train)
		b.h4.Ensure(h2.N, h2.H, h2.W, mid)
		dse := float32(b.D[ISE])
		for i, v := range b.h3.Data {
			b.h4.Data[i] = v + dse*(b.seOut.Data[i]-v)
		}
		h4 = &b.h4
	}
	b.h5 = b.ProjBN.Forward(b.Project.Forward(h4, train), train)
	if !b.Skippable {
		return b.h5
	}
	b.out.Ensure(x.N, x.H, x.W, x.C)
	d50 := float32(b.D[I50])
	for i, v := range b.h5.Data {
		b.out.Data[i] = x.Data[i] + d50*v
	}
	return &b.out
}

// Backward returns dL/dx, accumulates the weight gradients of the path as
// used, and stores dL/dD in DD. Threshold gradients (and the norms'
// straight-through share of the weight gradients) are added by
// IndicatorBackward, once the caller has added its latency term to DD.
func (b *Block) Backward(dy *nn.Tensor) *nn.Tensor {
	b.DD = Ind{}
	d := dy
	if b.Skippable {
		b.DD[I50] = dot(dy.Data, b.h5.Data)
		b.dh5.Ensure(dy.N, dy.H, dy.W, dy.C)
		d50 := float32(b.D[I50])
		for i, v := range dy.Data {
			b.dh5.Data[i] = d50 * v
		}
		d = &b.dh5
	}
	d = b.Project.Backward(b.ProjBN.Backward(d))
	mid, half := b.Mid, b.Mid/2
	if b.SEL != nil {
		dse := float32(b.D[ISE])
		var s float64
		for i, v := range d.Data {
			s += float64(v) * float64(b.seOut.Data[i]-b.h3.Data[i])
		}
		b.DD[ISE] = s
		b.dse.Ensure(d.N, d.H, d.W, d.C)
		for i, v := range d.Data {
			b.dse.Data[i] = dse * v
		}
		ds := b.SEL.Backward(&b.dse)
		b.dh3.Ensure(d.N, d.H, d.W, d.C)
		for i, v := range d.Data {
			b.dh3.Data[i] = (1-dse)*v + ds.Data[i]
		}
		d = &b.dh3
	}
	b.dh2.Ensure(d.N, d.H, d.W, d.C)
	d100 := float32(b.D[I100])
	var s100 float64
	for r := range d.Rows() {
		src, dst, h := d.Data[r*mid:][:mid], b.dh2.Data[r*mid:][:mid], b.h2.Data[r*mid:][:mid]
		copy(dst[:half], src[:half])
		for c := half; c < mid; c++ {
			s100 += float64(src[c]) * float64(h[c])
			dst[c] = d100 * src[c]
		}
	}
	b.DD[I100] = s100
	d = b.DW.Backward(b.DWBN.Backward(&b.dh2))
	eg, w := b.DW.EffGrad(), b.DW.Weight.W
	var s5 float64
	for ky := range 5 {
		for kx := range 5 {
			if ky >= 1 && ky <= 3 && kx >= 1 && kx <= 3 {
				continue
			}
			o := (ky*5 + kx) * mid
			s5 += dot(eg[o:o+mid], w[o:o+mid])
		}
	}
	b.DD[I5] = s5
	d = b.Expand.Backward(b.ExpandBN.Backward(d))
	if !b.Skippable {
		return d
	}
	b.dx.Ensure(d.N, d.H, d.W, d.C)
	for i, v := range d.Data {
		b.dx.Data[i] = v + dy.Data[i]
	}
	return &b.dx
}

// IndicatorBackward applies the straight-through gradients of
// D = Ind(norm - t) for dL/dD = DD + extra: dL/dt = -sigmoid'(n-t) dL/dD,
// and dL/dW += sigmoid'(n-t) dL/dD dn/dW for the weights under each norm.
func (b *Block) IndicatorBackward(extra Ind) {
	if b.Force != nil {
		return // forced indicators do not depend on thresholds or norms
	}
	for i := range NumIndicators {
		if !b.Searchable(i) {
			continue
		}
		g := (b.DD[i] + extra[i]) * surrogate(b.Norm[i]-float64(b.T.W[i]))
		b.T.G[i] -= float32(g)
		if g == 0 || b.Norm[i] == 0 {
			continue
		}
		switch i {
		case I5:
			b.normGradDW(i, g, true, 0, b.Mid, 16*b.Mid)
		case I50:
			b.normGradDW(i, g, false, 0, b.Mid/2, 25*(b.Mid/2))
		case I100:
			b.normGradDW(i, g, false, b.Mid/2, b.Mid, 25*(b.Mid-b.Mid/2))
		case ISE:
			r, e := b.SEL.Reduce.Weight, b.SEL.Expand.Weight
			k := float32(g / (float64(len(r.W)+len(e.W)) * b.Norm[ISE]))
			for j, v := range r.W {
				r.G[j] += k * v
			}
			for j, v := range e.W {
				e.G[j] += k * v
			}
		}
	}
}

// normGradDW adds g * d(RMS norm i)/dW over the ring (or the full 5x5) of
// channels [c0,c1): dn/dw = w / (count * n).
func (b *Block) normGradDW(i int, g float64, ringOnly bool, c0, c1, count int) {
	k := float32(g / (float64(count) * b.Norm[i]))
	w, gw := b.DW.Weight.W, b.DW.Weight.G
	for ky := range 5 {
		for kx := range 5 {
			if ringOnly && ky >= 1 && ky <= 3 && kx >= 1 && kx <= 3 {
				continue
			}
			o := (ky*5 + kx) * b.Mid
			for c := c0; c < c1; c++ {
				gw[o+c] += k * w[o+c]
			}
		}
	}
}

// Params lists the block's trainable tensors, thresholds last.
func (b *Block) Params() []*nn.Param {
	var ps []*nn.Param
	for _, l := range b.chain() {
		ps = append(ps, l.Params()...)
	}
	return append(ps, b.T)
}

// Buffers lists the batch norms' running statistics.
func (b *Block) Buffers() []*nn.Param {
	var ps []*nn.Param
	for _, l := range b.chain() {
		ps = append(ps, l.Buffers()...)
	}
	return ps
}

func (b *Block) chain() []nn.Layer {
	ls := []nn.Layer{b.Expand, b.ExpandBN, b.DW, b.DWBN}
	if b.SEL != nil {
		ls = append(ls, b.SEL)
	}
	return append(ls, b.Project, b.ProjBN)
}

// Hard returns the hard indicators the current thresholds and weights give
// (no dropout, no relaxation, Force ignored): what the search has decided.
func (b *Block) Hard() Ind {
	if err := b.norms(); err != nil {
		panic(fmt.Sprintf("superkernel %s: %v", b.T.Name, err))
	}
	var d Ind
	for i := range NumIndicators {
		switch {
		case !b.Searchable(i):
			if i == I50 {
				d[i] = 1
			}
		case b.Norm[i] >= float64(b.T.W[i]):
			d[i] = 1
		}
	}
	return d
}

// Choice decodes the block's current hard decision.
func (b *Block) Choice() space.Choice { return Decode(b.Hard()) }

// Decode maps hard indicators to a choice, as the paper decodes them:
// [d5,d50,d100] = [0,1,0] k3e3, [0,1,1] k3e6, [1,1,0] k5e3, [1,1,1] k5e6,
// d50 = 0 skip; dSE = 1 adds SE. (The public code's encoder swaps k3e6 and
// k5e3; TestDecodeTable guards against that.)
func Decode(d Ind) space.Choice {
	if d[I50] < 0.5 {
		return space.Choice{Skip: true}
	}
	c := space.Choice{Kernel: 3, Expand: 3, SE: d[ISE] >= 0.5}
	if d[I5] >= 0.5 {
		c.Kernel = 5
	}
	if d[I100] >= 0.5 {
		c.Expand = 6
	}
	return c
}

// Encode is Decode's inverse: the hard indicators of a choice.
func Encode(c space.Choice) Ind {
	if c.Skip {
		return Ind{}
	}
	var d Ind
	d[I50] = 1
	if c.Kernel == 5 {
		d[I5] = 1
	}
	if c.Expand == 6 {
		d[I100] = 1
	}
	if c.SE {
		d[ISE] = 1
	}
	return d
}
