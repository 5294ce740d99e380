package lut

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"edgenas/space"
)

// Single-Path NAS operation indices in its per-layer table (the "0".."3" of
// the published JSON).
const (
	OpK3E3 = 0
	OpK3E6 = 1
	OpK5E3 = 2
	OpK5E6 = 3
)

// SPNASTable is a Single-Path NAS runtime table: for each searchable layer the
// runtimes (ms) of its four MBConv options, indexed by the Op constants, plus
// the constant runtime of everything that is not searched (stem, fixed
// blocks, head), which the published file does not hold in one number.
type SPNASTable struct {
	R        [][4]float64
	Constant float64
}

// ReadSPNAS reads the published per-layer JSON ({"layer": {"0": k3e3, "1":
// k3e6, "2": k5e3, "3": k5e6}}). Layers must be numbered 0..N-1 without gaps;
// the first and last are the fixed blocks (their time belongs in constant,
// which the caller gives), so layers 1..N-2 become the searchable ones.
func ReadSPNAS(r io.Reader, constant float64) (*SPNASTable, error) {
	var raw map[string]map[string]float64
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("read spnas table: %w", err)
	}
	if len(raw) < 3 {
		return nil, fmt.Errorf("read spnas table: %d layers, need the two fixed ones and at least one searchable", len(raw))
	}
	if math.IsNaN(constant) || constant < 0 {
		return nil, fmt.Errorf("read spnas table: constant %g ms must be non-negative", constant)
	}
	t := &SPNASTable{R: make([][4]float64, len(raw)-2), Constant: constant}
	for i := 0; i < len(raw); i++ {
		ops, ok := raw[strconv.Itoa(i)]
		if !ok {
			return nil, fmt.Errorf("read spnas table: layer %d missing (layers must be numbered 0..%d)", i, len(raw)-1)
		}
		if len(ops) != 4 {
			return nil, fmt.Errorf("read spnas table: layer %d has %d options, want 4", i, len(ops))
		}
		var row [4]float64
		for op := 0; op < 4; op++ {
			v, ok := ops[strconv.Itoa(op)]
			if !ok || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("read spnas table: layer %d option %d: missing or not a positive time", i, op)
			}
			row[op] = v
		}
		if i > 0 && i < len(raw)-1 {
			t.R[i-1] = row
		}
	}
	return t, nil
}

// Indicators are the Single-Path NAS per-layer decisions: D5 chooses the 5x5
// kernel over 3x3, D50 keeps the first half of the expansion channels (0 makes
// the layer a skip), D100 keeps the second half (e6 over e3). During the
// search they are relaxed to real values; the formula is differentiable in them.
type Indicators struct {
	D5, D50, D100 float64
}

// IndicatorsFor encodes a choice as the paper decodes it: [d5,d50,d100] =
// [0,1,0] k3e3, [0,1,1] k3e6, [1,1,0] k5e3, [1,1,1] k5e6, d50=0 skip.
func IndicatorsFor(c space.Choice) (Indicators, error) {
	if c.Skip {
		return Indicators{}, nil
	}
	if c.SE {
		return Indicators{}, fmt.Errorf("choice %s: the Single-Path NAS runtime model has no SE option", c)
	}
	var ind Indicators
	ind.D50 = 1
	switch c.Kernel {
	case 3:
	case 5:
		ind.D5 = 1
	default:
		return Indicators{}, fmt.Errorf("choice %s: kernel %d not in the Single-Path NAS space", c, c.Kernel)
	}
	switch c.Expand {
	case 3:
	case 6:
		ind.D100 = 1
	default:
		return Indicators{}, fmt.Errorf("choice %s: expansion %d not in the Single-Path NAS space", c, c.Expand)
	}
	return ind, nil
}

// opFor is the table column of a (non-skip, non-SE) choice.
func opFor(c space.Choice) (int, error) {
	switch {
	case c.Kernel == 3 && c.Expand == 3:
		return OpK3E3, nil
	case c.Kernel == 3 && c.Expand == 6:
		return OpK3E6, nil
	case c.Kernel == 5 && c.Expand == 3:
		return OpK5E3, nil
	case c.Kernel == 5 && c.Expand == 6:
		return OpK5E6, nil
	}
	return 0, fmt.Errorf("choice %s is not one of k3e3 k3e6 k5e3 k5e6", c)
}

// LayerRuntime is the differentiable runtime of searchable layer i:
// r = R[k3e6]/R[k5e6]; Rc = d50*(R[k5e3] + d100*(R[k5e6]-R[k5e3]));
// R_layer = Rc*(r + (1-r)*d5). Exact for k3e6, k5e3 and k5e6; for k3e3 it
// gives R[k5e3]*r, which only approximates R[k3e3].
func (t *SPNASTable) LayerRuntime(i int, d Indicators) float64 {
	R := t.R[i]
	r := R[OpK3E6] / R[OpK5E6]
	rc := d.D50 * (R[OpK5E3] + d.D100*(R[OpK5E6]-R[OpK5E3]))
	return rc * (r + (1-r)*d.D5)
}

func (t *SPNASTable) checkLen(n int) error {
	if n != len(t.R) {
		return fmt.Errorf("spnas table has %d searchable layers, got %d", len(t.R), n)
	}
	return nil
}

// Runtime is the formula's total: Constant plus every layer's LayerRuntime.
func (t *SPNASTable) Runtime(ds []Indicators) (float64, error) {
	if err := t.checkLen(len(ds)); err != nil {
		return 0, err
	}
	total := t.Constant
	for i, d := range ds {
		total += t.LayerRuntime(i, d)
	}
	return total, nil
}

// Gradient returns dRuntime/d(indicator) for every layer, in the same shape
// as the indicators: what the search multiplies by its latency-loss factor
// (lambda/R_total for a lambda*log(R_total) loss).
func (t *SPNASTable) Gradient(ds []Indicators) ([]Indicators, error) {
	if err := t.checkLen(len(ds)); err != nil {
		return nil, err
	}
	g := make([]Indicators, len(ds))
	for i, d := range ds {
		R := t.R[i]
		r := R[OpK3E6] / R[OpK5E6]
		inner := R[OpK5E3] + d.D100*(R[OpK5E6]-R[OpK5E3])
		kern := r + (1-r)*d.D5
		g[i] = Indicators{
			D5:   d.D50 * inner * (1 - r),
			D50:  inner * kern,
			D100: d.D50 * (R[OpK5E6] - R[OpK5E3]) * kern,
		}
	}
	return g, nil
}

// Lookup is the exact table sum for discrete choices (skip costs 0), as
// opposed to the formula, which approximates k3e3.
func (t *SPNASTable) Lookup(cs []space.Choice) (float64, error) {
	if err := t.checkLen(len(cs)); err != nil {
		return 0, err
	}
	total := t.Constant
	for i, c := range cs {
		if c.Skip {
			continue
		}
		if c.SE {
			return 0, fmt.Errorf("layer %d: choice %s: the Single-Path NAS table has no SE option", i, c)
		}
		op, err := opFor(c)
		if err != nil {
			return 0, fmt.Errorf("layer %d: %w", i, err)
		}
		total += t.R[i][op]
	}
	return total, nil
}

// SPNASPredictor predicts with a Single-Path NAS table: by the differentiable
// formula (the number the search optimises) or, with Exact, the table sum.
type SPNASPredictor struct {
	Table *SPNASTable
	Exact bool
}

// Name identifies the predictor in reports.
func (p SPNASPredictor) Name() string {
	if p.Exact {
		return "spnas-table"
	}
	return "spnas-formula"
}

// Predict gives the architecture's runtime; terms name each searchable
// layer's choice, and the constant.
func (p SPNASPredictor) Predict(a space.Arch) (Prediction, error) {
	if p.Table == nil {
		return Prediction{}, fmt.Errorf("%s: no table", p.Name())
	}
	if err := p.Table.checkLen(len(a.Choices)); err != nil {
		return Prediction{}, fmt.Errorf("%s: %w", p.Name(), err)
	}
	pred := Prediction{Terms: []Term{{Key: "constant", Millis: p.Table.Constant}}}
	ds := make([]Indicators, len(a.Choices))
	for i, c := range a.Choices {
		d, err := IndicatorsFor(c)
		if err != nil {
			return Prediction{}, fmt.Errorf("%s: layer %d: %w", p.Name(), i, err)
		}
		ds[i] = d
	}
	var err error
	if p.Exact {
		pred.Millis, err = p.Table.Lookup(a.Choices)
	} else {
		pred.Millis, err = p.Table.Runtime(ds)
	}
	if err != nil {
		return Prediction{}, fmt.Errorf("%s: %w", p.Name(), err)
	}
	for i, c := range a.Choices {
		if c.Skip {
			continue
		}
		ms := p.Table.LayerRuntime(i, ds[i])
		if p.Exact {
			op, _ := opFor(c)
			ms = p.Table.R[i][op]
		}
		pred.Terms = append(pred.Terms, Term{Key: fmt.Sprintf("spnas-layer:%d-%s", i+1, c), Millis: ms})
	}
	return pred, nil
}
