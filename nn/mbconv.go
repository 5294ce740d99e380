package nn

import (
	"fmt"
	"math/rand/v2"
)

// MBConv is the inverted residual block: expand 1x1 -> BN+act -> depthwise
// KxK stride S -> BN+act -> optional SE -> project 1x1 -> BN -> (+ input).
type MBConv struct {
	Expand   *Conv      // nil when the expansion ratio is 1
	ExpandBN *BatchNorm // nil with Expand
	DW       *Depthwise
	DWBN     *BatchNorm
	SE       *SE // nil without squeeze-and-excitation
	Project  *Conv
	ProjBN   *BatchNorm
	Residual bool
	y, dx    Tensor
}

// MBConvConfig sizes an MBConv block.
type MBConvConfig struct {
	In, Out, Expand, Kernel, Stride, SEChannels int
	Residual                                    bool
	Act                                         Act
}

// NewMBConv builds a block; a residual needs stride 1 and In == Out.
func NewMBConv(name string, cfg MBConvConfig, rng *rand.Rand) (*MBConv, error) {
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.Expand <= 0 || cfg.Kernel <= 0 || cfg.Kernel%2 == 0 || cfg.Stride <= 0 {
		return nil, fmt.Errorf("mbconv %s: bad config %+v (sizes must be positive, kernel odd)", name, cfg)
	}
	if cfg.Residual && (cfg.Stride != 1 || cfg.In != cfg.Out) {
		return nil, fmt.Errorf("mbconv %s: residual needs stride 1 and in == out, got stride %d, %d->%d", name, cfg.Stride, cfg.In, cfg.Out)
	}
	mid := cfg.In * cfg.Expand
	b := &MBConv{Residual: cfg.Residual}
	if cfg.Expand != 1 {
		b.Expand = NewConv(name+"/expand", cfg.In, mid, 1, 1, rng)
		b.ExpandBN = NewBatchNorm(name+"/expand_bn", mid, cfg.Act)
	}
	b.DW = NewDepthwise(name+"/dw", mid, cfg.Kernel, cfg.Stride, rng)
	b.DWBN = NewBatchNorm(name+"/dw_bn", mid, cfg.Act)
	if cfg.SEChannels > 0 {
		b.SE = NewSE(name+"/se", mid, cfg.SEChannels, rng)
	}
	b.Project = NewConv(name+"/project", mid, cfg.Out, 1, 1, rng)
	b.ProjBN = NewBatchNorm(name+"/project_bn", cfg.Out, ActNone)
	return b, nil
}

func (b *MBConv) chain() []Layer {
	var ls []Layer
	if b.Expand != nil {
		ls = append(ls, b.Expand, b.ExpandBN)
	}
	ls = append(ls, b.DW, b.DWBN)
	if b.SE != nil {
		ls = append(ls, b.SE)
	}
	return append(ls, b.Project, b.ProjBN)
}

// Forward runs the block.
func (b *MBConv) Forward(x *Tensor, train bool) *Tensor {
	h := x
	if b.Expand != nil {
		h = b.ExpandBN.Forward(b.Expand.Forward(h, train), train)
	}
	h = b.DWBN.Forward(b.DW.Forward(h, train), train)
	if b.SE != nil {
		h = b.SE.Forward(h, train)
	}
	h = b.ProjBN.Forward(b.Project.Forward(h, train), train)
	if !b.Residual {
		return h
	}
	b.y.Ensure(h.N, h.H, h.W, h.C)
	for i, v := range h.Data {
		b.y.Data[i] = v + x.Data[i]
	}
	return &b.y
}

// Backward runs the chain in reverse and adds the skip path's gradient.
func (b *MBConv) Backward(dy *Tensor) *Tensor {
	d := b.ProjBN.Backward(dy)
	d = b.Project.Backward(d)
	if b.SE != nil {
		d = b.SE.Backward(d)
	}
	d = b.DW.Backward(b.DWBN.Backward(d))
	if b.Expand != nil {
		d = b.Expand.Backward(b.ExpandBN.Backward(d))
	}
	if !b.Residual {
		return d
	}
	b.dx.Ensure(d.N, d.H, d.W, d.C)
	for i, v := range d.Data {
		b.dx.Data[i] = v + dy.Data[i]
	}
	return &b.dx
}

// Params lists every trainable tensor of the block.
func (b *MBConv) Params() []*Param {
	var ps []*Param
	for _, l := range b.chain() {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Buffers lists the batch norms' running statistics.
func (b *MBConv) Buffers() []*Param {
	var ps []*Param
	for _, l := range b.chain() {
		ps = append(ps, l.Buffers()...)
	}
	return ps
}
