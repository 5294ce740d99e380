// Package space defines edgenas search spaces and the architecture strings
// every tool speaks. An architecture is one token per searchable layer,
// comma-separated ("k5e6,k3e3+se,skip,..."); it is decoded here and nowhere
// else, into the concrete list of layers (stem, blocks, head) with shapes, and
// each layer states its full configuration as a latency-table key.
package space

import (
	"fmt"
	"sort"
	"strings"
)

// Stage is a group of searchable layers: the first one changes the channel
// count to Out and has stride Stride; the others keep the shape (stride 1,
// residual) and so may also be skipped.
type Stage struct {
	Out    int
	Stride int
	Layers int
}

// Space is a Single-Path-NAS-style macro search space.
type Space struct {
	Name                   string
	InputH, InputW, InputC int
	// Stem is a 3x3 convolution with StemOut channels and stride StemStride.
	StemOut, StemStride int
	// FirstOut is the fixed MBConv k3e1 block after the stem.
	FirstOut int
	Stages   []Stage
	// LastOut is the fixed MBConv k3e6 block after the stages.
	LastOut int
	// HeadOut is the 1x1 convolution before global average pooling.
	HeadOut int
	Classes int
	// SE allows the squeeze-and-excitation variant of every MBConv choice.
	SE bool
	// SERatio sizes the SE bottleneck relative to the block's input channels.
	SERatio float64
	// Act is the activation of every non-linear layer ("relu6").
	Act string
}

// Names lists the built-in spaces.
func Names() []string { return []string{"spnas-imagenet", "spnas-fmnist"} }

// Lookup returns a fresh copy of a built-in space by name.
func Lookup(name string) (*Space, error) {
	switch name {
	case "spnas-imagenet":
		// Stamoulis et al. 2019, Single-Path NAS, ImageNet macro space.
		return &Space{
			Name: name, InputH: 224, InputW: 224, InputC: 3,
			StemOut: 32, StemStride: 2, FirstOut: 16,
			Stages: []Stage{
				{Out: 24, Stride: 2, Layers: 4},
				{Out: 40, Stride: 2, Layers: 4},
				{Out: 80, Stride: 2, Layers: 4},
				{Out: 96, Stride: 1, Layers: 4},
				{Out: 192, Stride: 2, Layers: 4},
			},
			LastOut: 320, HeadOut: 1280, Classes: 1000,
			SE: true, SERatio: 0.25, Act: "relu6",
		}, nil
	case "spnas-fmnist":
		// The same design scaled to 28x28x1 Fashion-MNIST.
		return &Space{
			Name: name, InputH: 28, InputW: 28, InputC: 1,
			StemOut: 16, StemStride: 1, FirstOut: 16,
			Stages: []Stage{
				{Out: 24, Stride: 2, Layers: 3},
				{Out: 40, Stride: 2, Layers: 3},
				{Out: 80, Stride: 1, Layers: 3},
				{Out: 96, Stride: 2, Layers: 3},
			},
			LastOut: 160, HeadOut: 320, Classes: 10,
			SE: true, SERatio: 0.25, Act: "relu6",
		}, nil
	}
	return nil, fmt.Errorf("unknown search space %q (known: %s)", name, strings.Join(append(Names(), DAGNames()...), ", "))
}

// MustLookup is Lookup for names known to be built in; it panics otherwise.
func MustLookup(name string) *Space {
	s, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return s
}

// NumSearchable is the number of searchable layers (tokens in an architecture).
func (s *Space) NumSearchable() int {
	n := 0
	for _, st := range s.Stages {
		n += st.Layers
	}
	return n
}

// Slot describes one searchable layer position: where it is and what it may become.
type Slot struct {
	Index     int // 0-based searchable layer index
	Stage     int // 0-based stage
	InStage   int // position within the stage
	InH, InW  int
	InC, OutC int
	Stride    int
	// Skippable: the slot may be an identity (stride 1, same channels).
	Skippable bool
}

// Slots returns the searchable layer positions with their fixed shapes. The
// shapes do not depend on choices: every choice at a slot maps the same
// input shape to the same output shape.
func (s *Space) Slots() []Slot {
	h, w := convOut(s.InputH, s.StemStride), convOut(s.InputW, s.StemStride)
	c := s.FirstOut
	var out []Slot
	for si, st := range s.Stages {
		for li := 0; li < st.Layers; li++ {
			stride := 1
			if li == 0 {
				stride = st.Stride
			}
			sl := Slot{Index: len(out), Stage: si, InStage: li, InH: h, InW: w, InC: c, OutC: st.Out, Stride: stride}
			sl.Skippable = stride == 1 && c == st.Out
			out = append(out, sl)
			h, w, c = convOut(h, stride), convOut(w, stride), st.Out
		}
	}
	return out
}

// Options lists the tokens allowed at a slot, in canonical order.
func (s *Space) Options(sl Slot) []Choice {
	var out []Choice
	for _, k := range []int{3, 5} {
		for _, e := range []int{3, 6} {
			out = append(out, Choice{Kernel: k, Expand: e})
			if s.SE {
				out = append(out, Choice{Kernel: k, Expand: e, SE: true})
			}
		}
	}
	if sl.Skippable {
		out = append(out, Choice{Skip: true})
	}
	return out
}

// Size is the number of distinct architectures in the space.
func (s *Space) Size() float64 {
	n := 1.0
	for _, sl := range s.Slots() {
		n *= float64(len(s.Options(sl)))
	}
	return n
}

// convOut is the output size of a SAME-padded layer with the given stride.
func convOut(in, stride int) int { return (in + stride - 1) / stride }

// UniqueKeys returns every distinct layer key that any architecture of the
// space can contain (stem, fixed blocks, every option of every slot, head),
// sorted. It is the list of microbenchmarks a full latency table needs.
func (s *Space) UniqueKeys() []Layer {
	seen := map[string]Layer{}
	add := func(l Layer) {
		if l.Kind != KindSkip {
			seen[l.Key()] = l
		}
	}
	fixed := s.fixedLayers()
	for _, l := range fixed.pre {
		add(l)
	}
	for _, sl := range s.Slots() {
		for _, c := range s.Options(sl) {
			add(s.slotLayer(sl, c))
		}
	}
	for _, l := range fixed.post {
		add(l)
	}
	out := make([]Layer, 0, len(seen))
	for _, l := range seen {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}
