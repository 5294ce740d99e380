// Package quantize builds int8 TFLite models for edgenas architectures the
// way TFLite's converter does post-training integer quantization: a float
// network (BN folded, TFLite weight layouts) becomes a FLOAT32 .tflite graph,
// the graph is calibrated by running it on sample inputs, and the calibrated
// ranges turn it into a fully int8 graph (per-channel symmetric convolution
// weights, int32 biases, asymmetric per-tensor activations).
//
// Random weights (RandomNet, ArchModel, LayerModel) give models for latency
// measurement; trained checkpoints will go through the same Net -> FloatModel
// -> Calibrate -> Quantize path. Calibration runs the float graph with the
// pure-Go reference kernels of edgenas/runtime/ref.
package quantize

import (
	"fmt"
	"math"
	"math/rand/v2"

	"edgenas/space"
	"edgenas/tflite"
)

// Weights are one weighted operator's float parameters, batch norm already
// folded, in TFLite layout: CONV_2D [out, kh, kw, in] (OHWI),
// DEPTHWISE_CONV_2D [1, kh, kw, channels*multiplier], FULLY_CONNECTED
// [out, in]. B has one bias per output channel.
type Weights struct {
	Shape []int32
	W     []float32
	B     []float32
}

// OutChannels is the number of output channels (the bias length).
func (w *Weights) OutChannels() int {
	if len(w.Shape) == 4 && w.Shape[0] == 1 {
		return int(w.Shape[3]) // depthwise 1HWC
	}
	if len(w.Shape) == 0 {
		return 0
	}
	return int(w.Shape[0])
}

func newWeights(shape ...int32) *Weights {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	w := &Weights{Shape: shape, W: make([]float32, n)}
	if len(shape) == 4 && shape[0] == 1 {
		w.B = make([]float32, shape[3])
	} else {
		w.B = make([]float32, shape[0])
	}
	return w
}

func (w *Weights) check(want ...int32) error {
	if w == nil {
		return fmt.Errorf("missing weights (want shape %v)", want)
	}
	if len(w.Shape) != len(want) {
		return fmt.Errorf("weights shape %v, want %v", w.Shape, want)
	}
	n := 1
	for i, d := range want {
		if w.Shape[i] != d {
			return fmt.Errorf("weights shape %v, want %v", w.Shape, want)
		}
		n *= int(d)
	}
	if len(w.W) != n {
		return fmt.Errorf("%d weight values for shape %v (want %d)", len(w.W), w.Shape, n)
	}
	if len(w.B) != w.OutChannels() {
		return fmt.Errorf("%d biases for %d output channels", len(w.B), w.OutChannels())
	}
	for _, v := range w.W {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("weight value %v", v)
		}
	}
	for _, v := range w.B {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("bias value %v", v)
		}
	}
	return nil
}

// Layer is one layer of a float network: its configuration and the
// parameters of the operators it becomes. Which weight fields are set
// depends on Spec.Kind: conv uses Conv; mbconv uses Expand (only when
// Spec.Expand != 1), Depthwise, SEReduce and SEExpand (only with SE) and
// Project; fc uses FC; avgpool and skip have no parameters.
type Layer struct {
	// Name prefixes the layer's tensor names ("stem", "slot3", "head").
	Name string
	Spec space.Layer

	Conv      *Weights // [OutC, k, k, InC]
	Expand    *Weights // [Mid, 1, 1, InC]
	Depthwise *Weights // [1, k, k, Mid]
	// SEReduce [SEChannels, Mid] and SEExpand [Mid, SEChannels] are the
	// squeeze-and-excitation fully connected layers.
	SEReduce, SEExpand *Weights
	Project            *Weights // [OutC, 1, 1, Mid]
	FC                 *Weights // [OutC, InC]
}

// Net is a float network description, input [1, InH, InW, InC].
type Net struct {
	Name          string
	InH, InW, InC int
	Layers        []Layer
	// Softmax appends a SOFTMAX after the classifier's logits.
	Softmax bool
}

// NewNet lays out a network for the given layers with zero weights of the
// right shapes, after checking that consecutive layers' shapes chain. Names
// are "stem" and "head" for the first and later convolutions, "slotN" for
// searchable blocks, "blockI" for fixed blocks (I: position in layers),
// "pool", "fc"; a repeated name gets a "_I" suffix.
func NewNet(layers []space.Layer) (*Net, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("quantize: no layers")
	}
	first := layers[0]
	n := &Net{Name: "edgenas", InH: first.InH, InW: first.InW, InC: first.InC}
	used := map[string]bool{}
	convs := 0
	for i, l := range layers {
		var name string
		switch {
		case l.Kind == space.KindConv && convs == 0:
			name = "stem"
		case l.Kind == space.KindConv:
			name = "head"
		case l.Slot >= 0:
			name = fmt.Sprintf("slot%d", l.Slot)
		case l.Kind == space.KindMBConv || l.Kind == space.KindSkip:
			name = fmt.Sprintf("block%d", i)
		case l.Kind == space.KindPool:
			name = "pool"
		default:
			name = string(l.Kind)
		}
		if l.Kind == space.KindConv {
			convs++
		}
		if used[name] {
			name = fmt.Sprintf("%s_%d", name, i)
		}
		used[name] = true
		nl := Layer{Name: name, Spec: l}
		switch l.Kind {
		case space.KindConv:
			nl.Conv = newWeights(int32(l.OutC), int32(l.Kernel), int32(l.Kernel), int32(l.InC))
		case space.KindMBConv:
			mid := int32(l.MidC())
			if l.Expand != 1 {
				nl.Expand = newWeights(mid, 1, 1, int32(l.InC))
			}
			nl.Depthwise = newWeights(1, int32(l.Kernel), int32(l.Kernel), mid)
			if l.SE() {
				nl.SEReduce = newWeights(int32(l.SEChannels), mid)
				nl.SEExpand = newWeights(mid, int32(l.SEChannels))
			}
			nl.Project = newWeights(int32(l.OutC), 1, 1, mid)
		case space.KindFC:
			nl.FC = newWeights(int32(l.OutC), int32(l.InC))
		}
		n.Layers = append(n.Layers, nl)
	}
	if err := n.Check(); err != nil {
		return nil, err
	}
	return n, nil
}

// Check verifies the network: known layer kinds and activations, shapes
// that chain from the input through every layer, convolution output sizes
// as SAME padding gives them, and weights of the shapes each layer needs.
func (n *Net) Check() error {
	if n == nil || len(n.Layers) == 0 {
		return fmt.Errorf("quantize: empty network")
	}
	h, w, c := n.InH, n.InW, n.InC
	if h <= 0 || w <= 0 || c <= 0 {
		return fmt.Errorf("quantize: input shape %dx%dx%d", h, w, c)
	}
	for i := range n.Layers {
		if err := n.Layers[i].check(h, w, c); err != nil {
			return fmt.Errorf("quantize: layer %d (%s): %w", i, n.Layers[i].Name, err)
		}
		s := n.Layers[i].Spec
		h, w, c = s.OutH, s.OutW, s.OutC
	}
	return nil
}

func (l *Layer) check(h, w, c int) error {
	s := l.Spec
	if s.InH != h || s.InW != w || s.InC != c {
		return fmt.Errorf("input %dx%dx%d, but the previous layer gives %dx%dx%d", s.InH, s.InW, s.InC, h, w, c)
	}
	if s.OutC <= 0 || s.OutH <= 0 || s.OutW <= 0 {
		return fmt.Errorf("output shape %dx%dx%d", s.OutH, s.OutW, s.OutC)
	}
	convShape := func() error {
		if s.Kernel < 1 || s.Stride < 1 {
			return fmt.Errorf("kernel %d stride %d", s.Kernel, s.Stride)
		}
		oh := tflite.ConvOutputSize(s.InH, s.Kernel, s.Stride, 1, tflite.PaddingSame)
		ow := tflite.ConvOutputSize(s.InW, s.Kernel, s.Stride, 1, tflite.PaddingSame)
		if oh != s.OutH || ow != s.OutW {
			return fmt.Errorf("output %dx%d, but a SAME %dx%d stride-%d window gives %dx%d", s.OutH, s.OutW, s.Kernel, s.Kernel, s.Stride, oh, ow)
		}
		if _, err := activation(s.Act); err != nil {
			return err
		}
		return nil
	}
	k := int32(s.Kernel)
	switch s.Kind {
	case space.KindConv:
		if err := convShape(); err != nil {
			return err
		}
		return wrap("conv", l.Conv.check(int32(s.OutC), k, k, int32(s.InC)))
	case space.KindMBConv:
		if err := convShape(); err != nil {
			return err
		}
		if s.Expand < 1 {
			return fmt.Errorf("expansion ratio %d", s.Expand)
		}
		mid := int32(s.MidC())
		if s.Expand != 1 {
			if err := l.Expand.check(mid, 1, 1, int32(s.InC)); err != nil {
				return wrap("expand", err)
			}
		} else if l.Expand != nil {
			return fmt.Errorf("expand weights given but the expansion ratio is 1")
		}
		if err := l.Depthwise.check(1, k, k, mid); err != nil {
			return wrap("depthwise", err)
		}
		if s.SE() {
			if err := l.SEReduce.check(int32(s.SEChannels), mid); err != nil {
				return wrap("se reduce", err)
			}
			if err := l.SEExpand.check(mid, int32(s.SEChannels)); err != nil {
				return wrap("se expand", err)
			}
		} else if l.SEReduce != nil || l.SEExpand != nil {
			return fmt.Errorf("squeeze-and-excitation weights given but the layer has no SE")
		}
		if s.IDSkip && (s.Stride != 1 || s.InC != s.OutC) {
			return fmt.Errorf("residual block with stride %d and %d->%d channels", s.Stride, s.InC, s.OutC)
		}
		return wrap("project", l.Project.check(int32(s.OutC), 1, 1, mid))
	case space.KindPool:
		if s.OutH != 1 || s.OutW != 1 || s.OutC != s.InC {
			return fmt.Errorf("global pooling %dx%dx%d -> %dx%dx%d", s.InH, s.InW, s.InC, s.OutH, s.OutW, s.OutC)
		}
	case space.KindFC:
		if s.OutH != 1 || s.OutW != 1 {
			return fmt.Errorf("classifier output %dx%dx%d, want 1x1xN", s.OutH, s.OutW, s.OutC)
		}
		return wrap("fc", l.FC.check(int32(s.OutC), int32(s.InH*s.InW*s.InC)))
	case space.KindSkip:
		if s.OutH != s.InH || s.OutW != s.InW || s.OutC != s.InC {
			return fmt.Errorf("skip changes the shape %dx%dx%d -> %dx%dx%d", s.InH, s.InW, s.InC, s.OutH, s.OutW, s.OutC)
		}
	default:
		return fmt.Errorf("unknown layer kind %q", s.Kind)
	}
	return nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// activation maps a space activation name onto a fused TFLite activation.
func activation(name string) (tflite.Activation, error) {
	switch name {
	case "relu6":
		return tflite.ActRelu6, nil
	case "relu":
		return tflite.ActRelu, nil
	case "", "none", "linear":
		return tflite.ActNone, nil
	}
	return 0, fmt.Errorf("activation %q has no fused TFLite equivalent (want relu6, relu or none)", name)
}

// RandomNet lays out a network for layers (see NewNet) and fills it with
// random weights that stand in for a trained, BN-folded network: normal
// weights scaled per layer so that every pre-activation has about unit
// variance on inputs uniform in [-1, 1] (what a batch norm with gamma 1
// gives; plain He-normal lets residual sums grow until ReLU6 saturates
// most activations), residual branches at variance 1/4 so the residual
// stream grows slowly, and small random biases for the folded BN shifts
// (positive ones in the SE bottleneck, see shift).
// The same layers and seed give the same network.
func RandomNet(layers []space.Layer, seed uint64) (*Net, error) {
	n, err := NewNet(layers)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x7175616e74697a65))
	// m2 tracks the expected second moment E[x^2] of the layer input.
	// Second moments used: uniform [-1,1] 1/3; ReLU/ReLU6 of N(0,1) 1/2;
	// the spatial mean of that about 0.25 (measured); sigmoid(N(0,1))^2 0.29.
	const relu, pooled, gate = 0.5, 0.25, 0.29
	m2 := 1.0 / 3
	if k := layers[0].Kind; k == space.KindPool || k == space.KindFC {
		m2 = 12 // uniform [0, 6], the inputs Generate uses for these
	}
	for i := range n.Layers {
		l := &n.Layers[i]
		switch l.Spec.Kind {
		case space.KindConv:
			fill(rng, l.Conv, 1, m2)
			m2 = relu
		case space.KindMBConv:
			x := m2
			if l.Expand != nil {
				fill(rng, l.Expand, 1, x)
				x = relu
			}
			fill(rng, l.Depthwise, 1, x)
			x = relu
			if l.SEReduce != nil {
				fill(rng, l.SEReduce, 1, pooled)
				shift(l.SEReduce, 0.5)
				fill(rng, l.SEExpand, 1, relu)
				x *= gate
			}
			if l.Spec.IDSkip {
				fill(rng, l.Project, 0.25, x)
				m2 += 0.25
			} else {
				fill(rng, l.Project, 1, x)
				m2 = 1
			}
		case space.KindPool:
			m2 = min(m2, pooled)
		case space.KindFC:
			fill(rng, l.FC, 1, m2)
			m2 = 1
		}
	}
	return n, nil
}

// shift adds d to every bias. The SE reduce layer gets a positive shift:
// its inputs (channel means) hardly vary between images, so with zero-mean
// biases all of a narrow bottleneck's ReLUs are dead for some seeds.
func shift(w *Weights, d float32) {
	for i := range w.B {
		w.B[i] += d
	}
}

// fill draws w so that an output has variance about target when the input
// has second moment m2: std = sqrt(target/(fan_in*m2)), where fan_in is
// every weight feeding one output (kh*kw*in for CONV_2D, kh*kw for
// depthwise, in for FULLY_CONNECTED). Biases are N(0, 0.1^2).
func fill(rng *rand.Rand, w *Weights, target, m2 float64) {
	fanIn := len(w.W) / w.OutChannels()
	if len(w.Shape) == 4 && w.Shape[0] == 1 {
		fanIn = int(w.Shape[1] * w.Shape[2])
	}
	std := math.Sqrt(target / (float64(fanIn) * m2))
	for i := range w.W {
		w.W[i] = float32(rng.NormFloat64() * std)
	}
	for i := range w.B {
		w.B[i] = float32(rng.NormFloat64() * 0.1)
	}
}

// FoldBatchNorm folds an inference batch norm that follows the operator
// into its weights and bias: w' = w*g/sqrt(v+eps) per output channel,
// b' = (b-mean)*g/sqrt(v+eps) + beta. Trained checkpoints use it before
// export.
func (w *Weights) FoldBatchNorm(gamma, beta, mean, variance []float32, eps float32) error {
	oc := w.OutChannels()
	for name, v := range map[string][]float32{"gamma": gamma, "beta": beta, "mean": mean, "variance": variance} {
		if len(v) != oc {
			return fmt.Errorf("fold batch norm: %d %s values for %d channels", len(v), name, oc)
		}
	}
	if len(w.B) != oc || oc == 0 || len(w.W)%oc != 0 {
		return fmt.Errorf("fold batch norm: weights shape %v with %d biases", w.Shape, len(w.B))
	}
	depthwise := len(w.Shape) == 4 && w.Shape[0] == 1
	per := len(w.W) / oc
	for c := 0; c < oc; c++ {
		if variance[c]+eps <= 0 {
			return fmt.Errorf("fold batch norm: channel %d variance %v + eps %v is not positive", c, variance[c], eps)
		}
		f := gamma[c] / float32(math.Sqrt(float64(variance[c]+eps)))
		if depthwise {
			for i := c; i < len(w.W); i += oc {
				w.W[i] *= f
			}
		} else {
			for i := c * per; i < (c+1)*per; i++ {
				w.W[i] *= f
			}
		}
		w.B[c] = (w.B[c]-mean[c])*f + beta[c]
	}
	return nil
}
