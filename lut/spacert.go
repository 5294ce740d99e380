package lut

import (
	"fmt"

	"edgenas/space"
)

// SpaceRuntime is the Single-Path NAS runtime model of one edgenas space,
// built from a measured table: per searchable slot the four MBConv variants'
// latencies (without SE), the extra cost of SE for each variant, and the
// constant part (stem, fixed blocks, head, pooling, classifier). The search
// differentiates it; the validator uses it as a predictor.
type SpaceRuntime struct {
	Space *space.Space
	SPNASTable
	// SE[i][op] is LUT(variant op with SE) - LUT(variant op) at slot i, in ms.
	SE [][4]float64
}

// spnasChoices are the four MBConv variants in SPNASTable op order.
var spnasChoices = [4]space.Choice{
	OpK3E3: {Kernel: 3, Expand: 3}, OpK3E6: {Kernel: 3, Expand: 6},
	OpK5E3: {Kernel: 5, Expand: 3}, OpK5E6: {Kernel: 5, Expand: 6},
}

// NewSpaceRuntime reads every value the model needs from t; a missing key is
// an error naming it.
func NewSpaceRuntime(s *space.Space, t *Table) (*SpaceRuntime, error) {
	get := func(l space.Layer) (float64, error) {
		ms, ok := t.Millis(l.Key())
		if !ok {
			return 0, fmt.Errorf("spnas runtime for %s: table %s has no entry %s", s.Name, t, l.Key())
		}
		return ms, nil
	}
	rt := &SpaceRuntime{Space: s}
	for _, l := range s.FixedLayers() {
		ms, err := get(l)
		if err != nil {
			return nil, err
		}
		rt.Constant += ms
	}
	for i := range s.Slots() {
		var row, se [4]float64
		for op, c := range spnasChoices {
			l, err := s.SlotLayer(i, c)
			if err != nil {
				return nil, err
			}
			if row[op], err = get(l); err != nil {
				return nil, err
			}
			if s.SE {
				c.SE = true
				l, err := s.SlotLayer(i, c)
				if err != nil {
					return nil, err
				}
				withSE, err := get(l)
				if err != nil {
					return nil, err
				}
				se[op] = withSE - row[op]
			}
		}
		rt.R = append(rt.R, row)
		rt.SE = append(rt.SE, se)
	}
	return rt, nil
}

// Name identifies the predictor.
func (r *SpaceRuntime) Name() string { return "spnas-formula" }

// Predict evaluates the differentiable formula at the architecture's hard
// indicators, plus the SE increments of the layers that use SE.
func (r *SpaceRuntime) Predict(a space.Arch) (Prediction, error) {
	if a.Space == nil || a.Space.Name != r.Space.Name || len(a.Choices) != len(r.R) {
		return Prediction{}, fmt.Errorf("spnas-formula: architecture is not of space %s", r.Space.Name)
	}
	p := Prediction{Millis: r.Constant, Terms: []Term{{Key: "constant", Millis: r.Constant}}}
	for i, c := range a.Choices {
		se := c.SE
		c.SE = false
		ind, err := IndicatorsFor(c)
		if err != nil {
			return Prediction{}, fmt.Errorf("spnas-formula slot %d: %w", i, err)
		}
		ms := r.LayerRuntime(i, ind)
		if se && !c.Skip {
			op, err := opFor(c)
			if err != nil {
				return Prediction{}, err
			}
			ms += r.SE[i][op]
		}
		p.Millis += ms
		p.Terms = append(p.Terms, Term{Key: fmt.Sprintf("slot%d:%s", i, a.Choices[i]), Millis: ms})
	}
	return p, nil
}
