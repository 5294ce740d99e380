package nn

import (
	"fmt"
	"math/rand/v2"

	"edgenas/space"
)

// Net is a feed-forward stack of layers ending in class logits, trained
// with softmax cross-entropy.
type Net struct {
	Layers        []Layer
	InH, InW, InC int
	Classes       int
	Loss          SoftmaxCE
	in            Tensor
	labels        []int
}

// NewNet wraps layers taking InH x InW x InC images to classes logits.
func NewNet(h, w, c, classes int, layers ...Layer) *Net {
	return &Net{Layers: layers, InH: h, InW: w, InC: c, Classes: classes}
}

// Build makes the trainable network of a fixed architecture of a space,
// initialised from seed: stem conv+BN+act, the MBConv blocks (skips
// dropped), head 1x1 conv+BN+act, global average pooling and the classifier.
func Build(arch space.Arch, seed uint64) (*Net, error) {
	s := arch.Space
	if s == nil {
		return nil, fmt.Errorf("build: architecture has no space")
	}
	if len(arch.Choices) != s.NumSearchable() {
		return nil, fmt.Errorf("build %s: %d choices, space has %d searchable layers", s.Name, len(arch.Choices), s.NumSearchable())
	}
	act, ok := ParseAct(s.Act)
	if !ok {
		return nil, fmt.Errorf("build %s: unknown activation %q", s.Name, s.Act)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e))
	net := NewNet(s.InputH, s.InputW, s.InputC, s.Classes)
	for i, l := range arch.Layers() {
		name := fmt.Sprintf("l%02d_%s", i, l.Kind)
		switch l.Kind {
		case space.KindConv:
			net.Layers = append(net.Layers, NewConv(name, l.InC, l.OutC, l.Kernel, l.Stride, rng),
				NewBatchNorm(name+"/bn", l.OutC, act))
		case space.KindMBConv:
			b, err := NewMBConv(name, MBConvConfig{In: l.InC, Out: l.OutC, Expand: l.Expand, Kernel: l.Kernel,
				Stride: l.Stride, SEChannels: l.SEChannels, Residual: l.IDSkip, Act: act}, rng)
			if err != nil {
				return nil, fmt.Errorf("build %s layer %d: %w", s.Name, i, err)
			}
			net.Layers = append(net.Layers, b)
		case space.KindPool:
			net.Layers = append(net.Layers, &GlobalAvgPool{})
		case space.KindFC:
			net.Layers = append(net.Layers, NewDense(name, l.InC, l.OutC, rng))
		case space.KindSkip:
		default:
			return nil, fmt.Errorf("build %s layer %d: unsupported layer kind %q", s.Name, i, l.Kind)
		}
	}
	return net, nil
}

// Forward runs images (batch x InH x InW x InC floats, NHWC) through the
// network and returns the logits (owned by the last layer).
func (n *Net) Forward(images []float32, batch int, train bool) (*Tensor, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("forward: batch %d must be positive", batch)
	}
	if want := batch * n.InH * n.InW * n.InC; len(images) != want {
		return nil, fmt.Errorf("forward: %d input floats, want %d (batch %d of %dx%dx%d)", len(images), want, batch, n.InH, n.InW, n.InC)
	}
	n.in = Tensor{N: batch, H: n.InH, W: n.InW, C: n.InC, Data: images}
	t := &n.in
	for _, l := range n.Layers {
		t = l.Forward(t, train)
	}
	if t.H*t.W*t.C != n.Classes {
		return nil, fmt.Errorf("forward: network output %s is not %d logits", t.Shape(), n.Classes)
	}
	return t, nil
}

// TrainStep clears the gradients, runs forward in training mode, the loss,
// and backward, leaving dL/dW in every Param.G. The optimizer step is
// separate so callers can inspect or modify gradients (e.g. NAS thresholds).
func (n *Net) TrainStep(images []float32, labels []int) (loss float64, correct int, err error) {
	if err := n.checkLabels(labels); err != nil {
		return 0, 0, err
	}
	logits, err := n.Forward(images, len(labels), true)
	if err != nil {
		return 0, 0, err
	}
	n.ZeroGrad()
	loss, correct = n.Loss.Forward(logits, labels)
	d := n.Loss.Backward()
	for i := len(n.Layers) - 1; i >= 0; i-- {
		d = n.Layers[i].Backward(d)
	}
	return loss, correct, nil
}

func (n *Net) checkLabels(labels []int) error {
	for i, l := range labels {
		if l < 0 || l >= n.Classes {
			return fmt.Errorf("label %d is %d, want [0,%d)", i, l, n.Classes)
		}
	}
	return nil
}

// ZeroGrad clears every parameter gradient.
func (n *Net) ZeroGrad() {
	for _, p := range n.Params() {
		clear(p.G)
	}
}

// Params lists all trainable tensors in a fixed order.
func (n *Net) Params() []*Param {
	var ps []*Param
	for _, l := range n.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Buffers lists all persistent non-trainable tensors in a fixed order.
func (n *Net) Buffers() []*Param {
	var ps []*Param
	for _, l := range n.Layers {
		ps = append(ps, l.Buffers()...)
	}
	return ps
}

// Evaluate runs the network in eval mode over a labelled set (images NHWC,
// one label per image) and returns accuracy and mean loss. A final partial
// batch is evaluated too.
func (n *Net) Evaluate(images []float32, labels []uint8, batch int) (acc, loss float64, err error) {
	per := n.InH * n.InW * n.InC
	if len(labels) == 0 || len(images) != len(labels)*per {
		return 0, 0, fmt.Errorf("evaluate: %d floats for %d labels (want %d per image)", len(images), len(labels), per)
	}
	if batch <= 0 {
		return 0, 0, fmt.Errorf("evaluate: batch %d must be positive", batch)
	}
	n.labels = growInts(n.labels, batch)
	correct := 0
	for lo := 0; lo < len(labels); lo += batch {
		hi := min(lo+batch, len(labels))
		lb := n.labels[:hi-lo]
		for i := range lb {
			lb[i] = int(labels[lo+i])
		}
		if err := n.checkLabels(lb); err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		logits, err := n.Forward(images[lo*per:hi*per], hi-lo, false)
		if err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		l, c := n.Loss.Forward(logits, lb)
		loss += l * float64(hi-lo)
		correct += c
	}
	return float64(correct) / float64(len(labels)), loss / float64(len(labels)), nil
}

func growInts(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}
