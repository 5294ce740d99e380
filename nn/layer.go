package nn

// Layer is one differentiable module with explicit forward and backward.
// Forward keeps what Backward needs (usually a reference to its input, so
// the caller must not modify x before Backward). Backward adds parameter
// gradients into Param.G and returns dL/dx in a buffer the layer owns.
type Layer interface {
	Forward(x *Tensor, train bool) *Tensor
	Backward(dy *Tensor) *Tensor
	// Params lists the trainable tensors.
	Params() []*Param
	// Buffers lists persistent non-trainable state (batch-norm running stats).
	Buffers() []*Param
}

// Masked is implemented by layers whose effective weight is W*Mask: the
// Single-Path NAS superkernel masks sub-kernels and channel groups this way.
// With a mask set, Backward stores dL/d(W*Mask) in EffGrad (for gradients
// of the mask itself, e.g. straight-through thresholds) and adds
// EffGrad*Mask into W's gradient.
type Masked interface {
	SetMask(mask []float32)
	EffGrad() []float32
}

// maskState is the shared W*Mask machinery of conv and depthwise layers.
type maskState struct {
	mask, weff, effGrad []float32
}

// SetMask sets the multiplicative weight mask (same length as the weight;
// nil removes it). The slice is read at every Forward, so callers may update
// it in place between steps.
func (m *maskState) SetMask(mask []float32) {
	m.mask = mask
}

// EffGrad is dL/d(W*Mask) from the last Backward (nil without a mask).
func (m *maskState) EffGrad() []float32 {
	if m.mask == nil {
		return nil
	}
	return m.effGrad
}

// weight returns the weight the forward pass uses.
func (m *maskState) weight(p *Param) []float32 {
	if m.mask == nil {
		return p.W
	}
	m.weff = growF32(m.weff, len(p.W))
	for i, w := range p.W {
		m.weff[i] = w * m.mask[i]
	}
	return m.weff
}

// gradTarget returns where Backward should accumulate dL/dWeff, and
// whether it must then be folded into p.G by finishGrad.
func (m *maskState) gradTarget(p *Param) []float32 {
	if m.mask == nil {
		return p.G
	}
	m.effGrad = growF32(m.effGrad, len(p.W))
	clear(m.effGrad)
	return m.effGrad
}

func (m *maskState) finishGrad(p *Param) {
	if m.mask == nil {
		return
	}
	for i, g := range m.effGrad {
		p.G[i] += g * m.mask[i]
	}
}
