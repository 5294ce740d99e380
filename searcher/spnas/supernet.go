package spnas

import (
	"fmt"
	"math/rand/v2"

	"edgenas/nn"
	"edgenas/space"
)

// Supernet is the searchable network of a space: the fixed stem, first
// block, last block, head, pooling and classifier of nn.Build, with one
// superkernel Block per searchable slot.
type Supernet struct {
	Space  *space.Space
	Net    *nn.Net
	Blocks []*Block
	Ctl    *Control
	// dropSrc is Ctl.Rng's source, saved in checkpoints.
	dropSrc *rand.PCG
}

// NewSupernet builds the supernet of s initialised from seed (the same seed
// gives the same weights and the same indicator-dropout sequence).
func NewSupernet(s *space.Space, seed uint64) (*Supernet, error) {
	if s == nil {
		return nil, fmt.Errorf("supernet: no space")
	}
	act, ok := nn.ParseAct(s.Act)
	if !ok {
		return nil, fmt.Errorf("supernet %s: unknown activation %q", s.Name, s.Act)
	}
	rng := rand.New(rand.NewPCG(seed, 0x73706e6173))
	src := newDropSource(seed)
	sn := &Supernet{Space: s, Ctl: &Control{Keep: 1, Rng: rand.New(src)}, dropSrc: src}
	sn.Net = nn.NewNet(s.InputH, s.InputW, s.InputC, s.Classes)
	slots := s.Slots()
	full := s.Uniform(space.Choice{Kernel: 5, Expand: 6, SE: s.SE})
	for i, l := range full.Layers() {
		name := fmt.Sprintf("l%02d_%s", i, l.Kind)
		switch {
		case l.Kind == space.KindMBConv && l.Slot >= 0:
			b, err := NewBlock(name, s, slots[l.Slot], sn.Ctl, rng)
			if err != nil {
				return nil, fmt.Errorf("supernet %s: %w", s.Name, err)
			}
			sn.Blocks = append(sn.Blocks, b)
			sn.Net.Layers = append(sn.Net.Layers, b)
		case l.Kind == space.KindMBConv:
			b, err := nn.NewMBConv(name, nn.MBConvConfig{In: l.InC, Out: l.OutC, Expand: l.Expand, Kernel: l.Kernel,
				Stride: l.Stride, SEChannels: l.SEChannels, Residual: l.IDSkip, Act: act}, rng)
			if err != nil {
				return nil, fmt.Errorf("supernet %s layer %d: %w", s.Name, i, err)
			}
			sn.Net.Layers = append(sn.Net.Layers, b)
		case l.Kind == space.KindConv:
			sn.Net.Layers = append(sn.Net.Layers, nn.NewConv(name, l.InC, l.OutC, l.Kernel, l.Stride, rng),
				nn.NewBatchNorm(name+"/bn", l.OutC, act))
		case l.Kind == space.KindPool:
			sn.Net.Layers = append(sn.Net.Layers, &nn.GlobalAvgPool{})
		case l.Kind == space.KindFC:
			sn.Net.Layers = append(sn.Net.Layers, nn.NewDense(name, l.InC, l.OutC, rng))
		default:
			return nil, fmt.Errorf("supernet %s layer %d: unsupported kind %q", s.Name, i, l.Kind)
		}
	}
	return sn, nil
}

// Arch is the architecture the thresholds currently decode to.
func (sn *Supernet) Arch() space.Arch {
	a := space.Arch{Space: sn.Space, Choices: make([]space.Choice, len(sn.Blocks))}
	for i, b := range sn.Blocks {
		a.Choices[i] = b.Choice()
	}
	return a
}

// Used is the indicators of the last forward pass (after dropout).
func (sn *Supernet) Used() []Ind {
	ds := make([]Ind, len(sn.Blocks))
	for i, b := range sn.Blocks {
		ds[i] = b.D
	}
	return ds
}

// Thresholds returns every block's (t5, t50, t100, tSE).
func (sn *Supernet) Thresholds() [][NumIndicators]float32 {
	ts := make([][NumIndicators]float32, len(sn.Blocks))
	for i, b := range sn.Blocks {
		copy(ts[i][:], b.T.W)
	}
	return ts
}

// Force fixes every block's indicators to a choice of a (nil: back to the
// thresholds), to evaluate one architecture inside the supernet.
func (sn *Supernet) Force(a *space.Arch) error {
	if a == nil {
		for _, b := range sn.Blocks {
			b.Force = nil
		}
		return nil
	}
	if len(a.Choices) != len(sn.Blocks) {
		return fmt.Errorf("supernet force: %d choices for %d slots", len(a.Choices), len(sn.Blocks))
	}
	for i, b := range sn.Blocks {
		d := Encode(a.Choices[i])
		b.Force = &d
	}
	return nil
}
