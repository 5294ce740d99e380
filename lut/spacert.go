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
	// Calibration, when set, has been folded into the entries (Calibrate):
	// predictions are measured whole-model milliseconds, not LUT sums.
	Calibration *Calibrated
}

// LatencyModel names what the runtime's milliseconds mean, for run records:
// "lut-sum", or the calibration folded in with its coefficients and fit.
func (r *SpaceRuntime) LatencyModel() string {
	c := r.Calibration
	if c == nil {
		return "lut-sum"
	}
	return fmt.Sprintf("calibrated-%s %v=%.4g (%d models, rmse %.4f ms)", c.Form, c.Features, c.Coef, c.Samples, c.RMSE)
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

// Calibrate returns a copy of the runtime model with a fitted calibration
// folded into its entries, so that the search's differentiable formula, the
// table sum and every search method built on them speak measured
// whole-model milliseconds rather than sums of isolated layers. Folding
// keeps the formula's shape (and so its gradient code) unchanged:
//
//	scale:  R' = a*R, SE' = a*SE, constant' = a*constant + c
//	affine: R' = a*R + b, SE' = a*SE, constant' = a*constant + b*fixed + c
//
// where b is the per-layer overhead and fixed the number of non-skip fixed
// layers. The result's table sum equals c.Predict(arch) for every
// architecture; the formula stays exact wherever it was (all but k3e3).
func (r *SpaceRuntime) Calibrate(c *Calibrated) (*SpaceRuntime, error) {
	if r.Calibration != nil {
		return nil, fmt.Errorf("calibrate %s runtime: already calibrated (%s)", r.Space.Name, r.LatencyModel())
	}
	if c == nil || len(c.Coef) != len(c.Features) || len(c.Coef) < 2 {
		return nil, fmt.Errorf("calibrate %s runtime: calibration is not fitted", r.Space.Name)
	}
	a, cst, perLayer := c.Coef[0], c.Coef[len(c.Coef)-1], 0.0
	switch c.Form {
	case FormScale:
	case FormAffine:
		perLayer = c.Coef[1]
	default:
		return nil, fmt.Errorf("calibrate %s runtime: form %q unknown", r.Space.Name, c.Form)
	}
	if !(a > 0) {
		// A non-positive slope would turn "add a slower layer" into a saving,
		// and the search would chase it.
		return nil, fmt.Errorf("calibrate %s runtime: slope %g on the LUT sum must be positive (refit on more varied models)", r.Space.Name, a)
	}
	fixed := 0
	for _, l := range r.Space.FixedLayers() {
		if l.Kind != space.KindSkip {
			fixed++
		}
	}
	out := &SpaceRuntime{Space: r.Space, Calibration: c}
	out.Constant = a*r.Constant + perLayer*float64(fixed) + cst
	for i := range r.R {
		var row, se [4]float64
		for op := range row {
			row[op] = a*r.R[i][op] + perLayer
			se[op] = a * r.SE[i][op]
			if !(row[op] > 0) {
				return nil, fmt.Errorf("calibrate %s runtime: slot %d option %d becomes %.4g ms (per-layer term %.4g ms); refit on more varied models",
					r.Space.Name, i, op, row[op], perLayer)
			}
		}
		out.R = append(out.R, row)
		out.SE = append(out.SE, se)
	}
	if !(out.Constant > 0) {
		return nil, fmt.Errorf("calibrate %s runtime: constant part becomes %.4g ms", r.Space.Name, out.Constant)
	}
	return out, nil
}
