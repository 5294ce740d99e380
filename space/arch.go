package space

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Choice is what one searchable layer is: an MBConv with a kernel size,
// expansion ratio and optional squeeze-and-excitation, or a skip.
type Choice struct {
	Skip   bool
	Kernel int
	Expand int
	SE     bool
}

// String is the choice's token: "k5e6", "k3e3+se" or "skip".
func (c Choice) String() string {
	if c.Skip {
		return "skip"
	}
	s := fmt.Sprintf("k%de%d", c.Kernel, c.Expand)
	if c.SE {
		s += "+se"
	}
	return s
}

// ParseChoice decodes one token.
func ParseChoice(tok string) (Choice, error) {
	t := strings.TrimSpace(tok)
	if t == "skip" {
		return Choice{Skip: true}, nil
	}
	var c Choice
	base, se := strings.CutSuffix(t, "+se")
	c.SE = se
	switch base {
	case "k3e3":
		c.Kernel, c.Expand = 3, 3
	case "k3e6":
		c.Kernel, c.Expand = 3, 6
	case "k5e3":
		c.Kernel, c.Expand = 5, 3
	case "k5e6":
		c.Kernel, c.Expand = 5, 6
	default:
		return Choice{}, fmt.Errorf("token %q is not one of k3e3 k3e6 k5e3 k5e6 (optionally +se) or skip", tok)
	}
	return c, nil
}

// Arch is an architecture of a space: one choice per searchable layer.
type Arch struct {
	Space   *Space
	Choices []Choice
}

// String formats the architecture as its comma-separated token list; Parse
// of the result gives the same architecture.
func (a Arch) String() string {
	toks := make([]string, len(a.Choices))
	for i, c := range a.Choices {
		toks[i] = c.String()
	}
	return strings.Join(toks, ",")
}

// Parse decodes an architecture string of space s, checking the token count,
// every token, and that skips stand only where the shape allows them.
func (s *Space) Parse(str string) (Arch, error) {
	toks := strings.Split(strings.TrimSpace(str), ",")
	slots := s.Slots()
	if len(toks) != len(slots) {
		return Arch{}, fmt.Errorf("architecture for %s needs %d comma-separated tokens, got %d", s.Name, len(slots), len(toks))
	}
	a := Arch{Space: s, Choices: make([]Choice, len(toks))}
	for i, tok := range toks {
		c, err := ParseChoice(tok)
		if err != nil {
			return Arch{}, fmt.Errorf("layer %d: %w", i, err)
		}
		if err := s.allowed(slots[i], c); err != nil {
			return Arch{}, fmt.Errorf("layer %d token %q: %w", i, strings.TrimSpace(tok), err)
		}
		a.Choices[i] = c
	}
	return a, nil
}

func (s *Space) allowed(sl Slot, c Choice) error {
	if c.Skip && !sl.Skippable {
		return fmt.Errorf("skip not allowed in the first layer of stage %d (stride %d, %d->%d channels)", sl.Stage+1, sl.Stride, sl.InC, sl.OutC)
	}
	if c.SE && !s.SE {
		return fmt.Errorf("space %s has no squeeze-and-excitation option", s.Name)
	}
	return nil
}

// Uniform returns the architecture with the same choice at every slot; where
// the choice is a skip and a slot cannot skip, the slot gets k3e3.
func (s *Space) Uniform(c Choice) Arch {
	slots := s.Slots()
	a := Arch{Space: s, Choices: make([]Choice, len(slots))}
	for i, sl := range slots {
		a.Choices[i] = c
		if c.Skip && !sl.Skippable {
			a.Choices[i] = Choice{Kernel: 3, Expand: 3}
		}
	}
	return a
}

// Random samples an architecture uniformly: each slot independently, each of
// its allowed options equally likely.
func (s *Space) Random(rng *rand.Rand) Arch {
	slots := s.Slots()
	a := Arch{Space: s, Choices: make([]Choice, len(slots))}
	for i, sl := range slots {
		opts := s.Options(sl)
		a.Choices[i] = opts[rng.IntN(len(opts))]
	}
	return a
}

// RandomSeed samples an architecture from a seed (the same seed gives the same architecture).
func (s *Space) RandomSeed(seed uint64) Arch {
	return s.Random(rand.New(rand.NewPCG(seed, 0x65646765_6e6173)))
}

// ParseOrRandom parses str, or samples from seed when str is "random".
func (s *Space) ParseOrRandom(str string, seed uint64) (Arch, error) {
	if strings.TrimSpace(str) == "random" {
		return s.RandomSeed(seed), nil
	}
	return s.Parse(str)
}

type fixedPart struct{ pre, post []Layer }

func (s *Space) fixedLayers() fixedPart {
	h, w := convOut(s.InputH, s.StemStride), convOut(s.InputW, s.StemStride)
	stem := Layer{Kind: KindConv, InH: s.InputH, InW: s.InputW, InC: s.InputC, OutH: h, OutW: w, OutC: s.StemOut,
		Kernel: 3, Stride: s.StemStride, Act: s.Act, Slot: -1}
	first := Layer{Kind: KindMBConv, InH: h, InW: w, InC: s.StemOut, OutH: h, OutW: w, OutC: s.FirstOut,
		Kernel: 3, Stride: 1, Expand: 1, Act: s.Act, Slot: -1} // no residual, as in the paper
	slots := s.Slots()
	last := slots[len(slots)-1]
	lh, lw := convOut(last.InH, last.Stride), convOut(last.InW, last.Stride)
	lastBlock := Layer{Kind: KindMBConv, InH: lh, InW: lw, InC: last.OutC, OutH: lh, OutW: lw, OutC: s.LastOut,
		Kernel: 3, Stride: 1, Expand: 6, Act: s.Act, Slot: -1}
	head := Layer{Kind: KindConv, InH: lh, InW: lw, InC: s.LastOut, OutH: lh, OutW: lw, OutC: s.HeadOut,
		Kernel: 1, Stride: 1, Act: s.Act, Slot: -1}
	pool := Layer{Kind: KindPool, InH: lh, InW: lw, InC: s.HeadOut, OutH: 1, OutW: 1, OutC: s.HeadOut, Slot: -1}
	fc := Layer{Kind: KindFC, InH: 1, InW: 1, InC: s.HeadOut, OutH: 1, OutW: 1, OutC: s.Classes, Slot: -1}
	return fixedPart{pre: []Layer{stem, first}, post: []Layer{lastBlock, head, pool, fc}}
}

func (s *Space) slotLayer(sl Slot, c Choice) Layer {
	oh, ow := convOut(sl.InH, sl.Stride), convOut(sl.InW, sl.Stride)
	if c.Skip {
		return Layer{Kind: KindSkip, InH: sl.InH, InW: sl.InW, InC: sl.InC, OutH: oh, OutW: ow, OutC: sl.OutC,
			Stride: 1, Slot: sl.Index}
	}
	l := Layer{Kind: KindMBConv, InH: sl.InH, InW: sl.InW, InC: sl.InC, OutH: oh, OutW: ow, OutC: sl.OutC,
		Kernel: c.Kernel, Stride: sl.Stride, Expand: c.Expand, IDSkip: sl.Skippable, Act: s.Act, Slot: sl.Index}
	if c.SE {
		l.SEChannels = seChannels(sl.InC, s.SERatio)
	}
	return l
}

// Layers decodes the architecture into the network's concrete layers in
// order: stem, fixed first block, one layer per slot (skips included, with
// Kind KindSkip), fixed last block, head convolution, pooling, classifier.
func (a Arch) Layers() []Layer {
	s := a.Space
	f := s.fixedLayers()
	out := append([]Layer{}, f.pre...)
	for i, sl := range s.Slots() {
		out = append(out, s.slotLayer(sl, a.Choices[i]))
	}
	return append(out, f.post...)
}

// FixedLayers returns the layers every architecture of the space has (stem,
// fixed blocks, head, pooling, classifier): the constant part of a latency sum.
func (s *Space) FixedLayers() []Layer {
	f := s.fixedLayers()
	return append(append([]Layer{}, f.pre...), f.post...)
}

// SlotLayer returns the layer a choice makes at searchable slot i.
func (s *Space) SlotLayer(i int, c Choice) (Layer, error) {
	slots := s.Slots()
	if i < 0 || i >= len(slots) {
		return Layer{}, fmt.Errorf("slot %d out of range [0,%d)", i, len(slots))
	}
	if err := s.allowed(slots[i], c); err != nil {
		return Layer{}, fmt.Errorf("slot %d: %w", i, err)
	}
	return s.slotLayer(slots[i], c), nil
}

// MACs is the architecture's total multiply-accumulate count.
func (a Arch) MACs() int64 {
	var n int64
	for _, l := range a.Layers() {
		n += l.MACs()
	}
	return n
}

// Params is the architecture's total weight and bias count.
func (a Arch) Params() int64 {
	var n int64
	for _, l := range a.Layers() {
		n += l.Params()
	}
	return n
}
