package lut

import (
	"fmt"
	"math"
	"strings"

	"edgenas/space"
)

// Predictor estimates an architecture's latency in milliseconds.
type Predictor interface {
	Name() string
	Predict(a space.Arch) (Prediction, error)
}

// Term is one addend of a prediction: a table key and the milliseconds it
// contributed.
type Term struct {
	Key    string  `json:"key"`
	Millis float64 `json:"ms"`
}

// Prediction is a predicted latency with the terms it was built from, so a
// surprising number can be traced to the table entries behind it.
type Prediction struct {
	Millis float64 `json:"ms"`
	Terms  []Term  `json:"terms,omitempty"`
}

// LUTPredictor sums the table's median latency over an architecture's layers
// (Once-for-All style); skips cost nothing.
type LUTPredictor struct {
	Table *Table
}

// NewLUTPredictor checks the table is usable.
func NewLUTPredictor(t *Table) (*LUTPredictor, error) {
	if t == nil {
		return nil, fmt.Errorf("lut predictor: nil table")
	}
	return &LUTPredictor{Table: t}, nil
}

// Name identifies the predictor and its table.
func (p *LUTPredictor) Name() string { return "lut-sum:" + p.Table.String() }

// Predict sums the layers' entries. Every key the table lacks is an error
// that names it (the first few, and how many in all).
func (p *LUTPredictor) Predict(a space.Arch) (Prediction, error) {
	if a.Space == nil {
		return Prediction{}, fmt.Errorf("%s: architecture has no space", p.Name())
	}
	if len(a.Choices) != a.Space.NumSearchable() {
		return Prediction{}, fmt.Errorf("%s: architecture has %d choices, space %s has %d searchable layers",
			p.Name(), len(a.Choices), a.Space.Name, a.Space.NumSearchable())
	}
	return p.PredictLayers(a.Layers())
}

// PredictLayers sums the entries of explicit layers (for models built outside a space).
func (p *LUTPredictor) PredictLayers(ls []space.Layer) (Prediction, error) {
	var pred Prediction
	var missing []string
	for _, l := range ls {
		if l.Kind == space.KindSkip {
			continue
		}
		k := l.Key()
		ms, ok := p.Table.Millis(k)
		if !ok {
			missing = append(missing, k)
			continue
		}
		if !(ms > 0) || math.IsInf(ms, 0) {
			// Stores validate on read; this catches tables built in memory.
			return Prediction{}, fmt.Errorf("%s: entry %s has latency %g ms, want a positive finite value", p.Name(), k, ms)
		}
		pred.Millis += ms
		pred.Terms = append(pred.Terms, Term{Key: k, Millis: ms})
	}
	if len(missing) > 0 {
		shown := missing
		if len(shown) > 3 {
			shown = shown[:3]
		}
		hint := ""
		if n := p.Table.LegacySE(); n > 0 {
			hint = fmt.Sprintf(" (the table's %d squeeze-and-excitation entries were measured with SE encoding 1, "+
				"which edgenas no longer writes: re-profile them)", n)
		}
		return Prediction{}, fmt.Errorf("%s: %d layer key(s) missing from the table, e.g. %s%s",
			p.Name(), len(missing), strings.Join(shown, ", "), hint)
	}
	return pred, nil
}

// The predictors this package provides.
var (
	_ Predictor = (*LUTPredictor)(nil)
	_ Predictor = SPNASPredictor{}
	_ Predictor = (*Calibrated)(nil)
)
