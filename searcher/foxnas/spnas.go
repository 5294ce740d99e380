package foxnas

import (
	"fmt"

	"edgenas/space"
)

// Base feature kinds of an edgenas architecture, per stage; FeatureNames
// suffixes them with the 1-based stage number ("depth2", "mean_e3").
var baseKinds = []string{"depth", "mean_e", "mean_k", "first_e", "first_k", "se", "sum_e"}

// FeatureNames names the base architecture features of a space, in the
// order Features returns them: for each stage, depth (non-skip blocks), mean
// expansion and mean kernel of the non-first non-skip blocks (0 when there
// are none), the transition (first) block's expansion and kernel, the number
// of SE blocks, and the total expansion of the non-first blocks.
func FeatureNames(s *space.Space) []string {
	var out []string
	for i := range s.Stages {
		for _, k := range baseKinds {
			out = append(out, fmt.Sprintf("%s%d", k, i+1))
		}
	}
	return out
}

// Features computes an architecture's base features (see FeatureNames).
func Features(a space.Arch) ([]float64, error) {
	s := a.Space
	if s == nil {
		return nil, fmt.Errorf("features: architecture has no space")
	}
	if len(a.Choices) != s.NumSearchable() {
		return nil, fmt.Errorf("features: %s architecture has %d choices, want %d", s.Name, len(a.Choices), s.NumSearchable())
	}
	out := make([]float64, 0, len(s.Stages)*len(baseKinds))
	pos := 0
	for _, st := range s.Stages {
		var depth, sumE, sumK, n, se, firstE, firstK float64
		for li := 0; li < st.Layers; li++ {
			c := a.Choices[pos+li]
			if c.Skip {
				continue
			}
			depth++
			if c.SE {
				se++
			}
			if li == 0 {
				firstE, firstK = float64(c.Expand), float64(c.Kernel)
				continue
			}
			sumE += float64(c.Expand)
			sumK += float64(c.Kernel)
			n++
		}
		meanE, meanK := 0.0, 0.0
		if n > 0 {
			meanE, meanK = sumE/n, sumK/n
		}
		out = append(out, depth, meanE, meanK, firstE, firstK, se, sumE)
		pos += st.Layers
	}
	return out, nil
}

// BaseFeatures is Features keyed by name, the form FeatureSet.Row and
// Model.Predict take.
func BaseFeatures(a space.Arch) (map[string]float64, error) {
	v, err := Features(a)
	if err != nil {
		return nil, err
	}
	names := FeatureNames(a.Space)
	m := make(map[string]float64, len(names))
	for i, n := range names {
		m[n] = v[i]
	}
	return m, nil
}

func spaceStages(s *space.Space) []stageCols {
	out := make([]stageCols, len(s.Stages))
	for i, st := range s.Stages {
		n := i + 1
		sc := stageCols{
			label: fmt.Sprintf("stage %d (%d ch)", n, st.Out),
			depth: fmt.Sprintf("depth%d", n), meanE: fmt.Sprintf("mean_e%d", n), meanK: fmt.Sprintf("mean_k%d", n),
			firstE: fmt.Sprintf("first_e%d", n), firstK: fmt.Sprintf("first_k%d", n), sumE: fmt.Sprintf("sum_e%d", n),
			// Depths 2..Layers have non-first blocks; three of them are needed.
			sumEDepthFree: st.Layers >= 4,
		}
		if s.SE {
			sc.se = fmt.Sprintf("se%d", n)
		}
		out[i] = sc
	}
	return out
}

// SpaceLatencySet is the FOX-NAS latency design for an edgenas space: per
// stage depth, mean expansion, mean kernel, transition expansion and kernel,
// SE count, plus depth x mean expansion and depth x mean kernel. Response in ms.
func SpaceLatencySet(s *space.Space) FeatureSet {
	return FeatureSet{Name: s.Name + "-latency", Target: "latency", Unit: "ms", Terms: latencyTerms(spaceStages(s))}
}

// SpaceAccuracySet is the FOX-NAS accuracy design for an edgenas space: the
// same main effects plus total expansion, total expansion x depth and mean
// kernel x depth. Response in percent (coefficients in pp). A stage of 3
// slots has only two depths with non-first blocks, where total expansion x
// depth = 4 x total expansion - 2 x mean expansion exactly; its interaction
// is then left out (spnas-fmnist: 32 terms; spnas-imagenet keeps it).
func SpaceAccuracySet(s *space.Space) FeatureSet {
	return FeatureSet{Name: s.Name + "-accuracy", Target: "accuracy", Unit: "pp", Terms: accuracyTerms(spaceStages(s))}
}

// ArchEncoding maps the architectures of an edgenas space to annealer
// states: per stage a depth coordinate, then per slot kernel, expansion and
// (if the space has it) SE coordinates. A stage of depth d uses its first d
// slots and skips the rest; slots past the depth are dormant. Skips in the
// middle of a stage are folded to its end, which computes the same function
// (every non-first slot keeps the shape).
type ArchEncoding struct {
	Space  *space.Space
	coords []Coord
	// per slot: index of its kernel coordinate; expansion is +1, SE +2
	slotCoord []int
	stageBase []int // index of each stage's depth coordinate
}

// NewArchEncoding builds the encoding; every stage's first slot must be a
// non-skippable block and the others skippable.
func NewArchEncoding(s *space.Space) (*ArchEncoding, error) {
	if s == nil {
		return nil, fmt.Errorf("arch encoding: nil space")
	}
	e := &ArchEncoding{Space: s}
	slots := s.Slots()
	pos := 0
	for si, st := range s.Stages {
		e.stageBase = append(e.stageBase, len(e.coords))
		e.coords = append(e.coords, Coord{Name: fmt.Sprintf("depth%d", si+1), Levels: st.Layers, Weight: 1, Primary: true})
		for li := 0; li < st.Layers; li++ {
			sl := slots[pos+li]
			if (li == 0) == sl.Skippable {
				return nil, fmt.Errorf("arch encoding: %s slot %d (stage %d position %d): want only the first slot of a stage non-skippable",
					s.Name, sl.Index, si+1, li)
			}
			e.slotCoord = append(e.slotCoord, len(e.coords))
			name := fmt.Sprintf("slot%d", sl.Index)
			e.coords = append(e.coords, Coord{Name: name + ".k", Levels: 2, Weight: 1}, Coord{Name: name + ".e", Levels: 2, Weight: 1})
			if s.SE {
				e.coords = append(e.coords, Coord{Name: name + ".se", Levels: 2, Weight: 1})
			}
		}
		pos += st.Layers
	}
	return e, nil
}

// Coords returns the state coordinates (a fresh copy, safe to reweight).
func (e *ArchEncoding) Coords() []Coord { return append([]Coord(nil), e.coords...) }

var (
	encKernels = []int{3, 5}
	encExpands = []int{3, 6}
)

// Decode turns a state into an architecture.
func (e *ArchEncoding) Decode(x []int) (space.Arch, error) {
	if len(x) != len(e.coords) {
		return space.Arch{}, fmt.Errorf("%s state has %d coordinates, want %d", e.Space.Name, len(x), len(e.coords))
	}
	for i, v := range x {
		if v < 0 || v >= e.coords[i].Levels {
			return space.Arch{}, fmt.Errorf("%s coordinate %s = %d outside [0,%d)", e.Space.Name, e.coords[i].Name, v, e.coords[i].Levels)
		}
	}
	a := space.Arch{Space: e.Space, Choices: make([]space.Choice, 0, len(e.slotCoord))}
	pos := 0
	for si, st := range e.Space.Stages {
		depth := x[e.stageBase[si]] + 1
		for li := 0; li < st.Layers; li++ {
			if li >= depth {
				a.Choices = append(a.Choices, space.Choice{Skip: true})
				continue
			}
			c := e.slotCoord[pos+li]
			ch := space.Choice{Kernel: encKernels[x[c]], Expand: encExpands[x[c+1]]}
			if e.Space.SE {
				ch.SE = x[c+2] == 1
			}
			a.Choices = append(a.Choices, ch)
		}
		pos += st.Layers
	}
	return a, nil
}

// Encode turns an architecture into a state (skips folded to the stage end;
// dormant coordinates 0).
func (e *ArchEncoding) Encode(a space.Arch) ([]int, error) {
	if a.Space == nil || a.Space.Name != e.Space.Name || len(a.Choices) != len(e.slotCoord) {
		return nil, fmt.Errorf("encode: architecture is not of space %s with %d choices", e.Space.Name, len(e.slotCoord))
	}
	x := make([]int, len(e.coords))
	pos := 0
	for si, st := range e.Space.Stages {
		used := 0
		for li := 0; li < st.Layers; li++ {
			ch := a.Choices[pos+li]
			if ch.Skip {
				if li == 0 {
					return nil, fmt.Errorf("encode: stage %d starts with a skip", si+1)
				}
				continue
			}
			c := e.slotCoord[pos+used]
			ki, ei := index(encKernels, ch.Kernel), index(encExpands, ch.Expand)
			if ki < 0 || ei < 0 {
				return nil, fmt.Errorf("encode: slot %d choice %s has no coordinate value", pos+li, ch)
			}
			x[c], x[c+1] = ki, ei
			if e.Space.SE && ch.SE {
				x[c+2] = 1
			}
			used++
		}
		x[e.stageBase[si]] = used - 1
		pos += st.Layers
	}
	return x, nil
}

func index(vals []int, v int) int {
	for i, w := range vals {
		if w == v {
			return i
		}
	}
	return -1
}

// Problem makes an annealing problem over the space: maximize the accuracy
// model's prediction subject to the latency model's prediction <= targetMS.
// Both models must use this space's base features (SpaceAccuracySet,
// SpaceLatencySet or any set over FeatureNames).
func (e *ArchEncoding) Problem(acc, lat *Model, targetMS float64) (Problem, error) {
	if acc == nil || lat == nil {
		return Problem{}, fmt.Errorf("search problem needs an accuracy and a latency model")
	}
	probe, err := BaseFeatures(e.Space.Uniform(space.Choice{Kernel: 3, Expand: 3}))
	if err != nil {
		return Problem{}, err
	}
	for _, m := range []*Model{acc, lat} {
		if _, err := m.Predict(probe); err != nil {
			return Problem{}, fmt.Errorf("model %s does not fit space %s: %w", m.FeatureSet.Name, e.Space.Name, err)
		}
	}
	eval := func(m *Model) func([]int) (float64, error) {
		return func(x []int) (float64, error) {
			a, err := e.Decode(x)
			if err != nil {
				return 0, err
			}
			b, err := BaseFeatures(a)
			if err != nil {
				return 0, err
			}
			return m.Predict(b)
		}
	}
	return Problem{
		Coords: e.Coords(), Score: eval(acc), Cost: eval(lat), Limit: targetMS,
		Key: func(x []int) string {
			a, err := e.Decode(x)
			if err != nil {
				return intsKey(x)
			}
			return a.String()
		},
	}, nil
}
