package foxnas

import (
	"fmt"
	"math"
)

// Term is one regressor: the product of one or more base features (a main
// effect has one factor, an interaction two).
type Term struct {
	Name    string   `json:"name"`
	Factors []string `json:"factors"`
	// Per says what one unit of the term is, for reading its coefficient:
	// "extra block in stage 2 (40 ch)".
	Per string `json:"per"`
}

// FeatureSet is a predictor's design: which response it models and from which terms.
type FeatureSet struct {
	Name string `json:"name"`
	// Target is the response: a CSV column ("latency", "acc") or a label.
	Target string `json:"target"`
	// Unit is the response's unit, used in coefficient meanings ("ms", "pp").
	Unit  string `json:"unit"`
	Terms []Term `json:"terms"`
}

// Names lists the term names in order.
func (fs FeatureSet) Names() []string {
	out := make([]string, len(fs.Terms))
	for i, t := range fs.Terms {
		out[i] = t.Name
	}
	return out
}

// Row evaluates the terms from base feature values.
func (fs FeatureSet) Row(base map[string]float64) ([]float64, error) {
	row := make([]float64, len(fs.Terms))
	for i, t := range fs.Terms {
		v := 1.0
		for _, f := range t.Factors {
			b, ok := base[f]
			if !ok {
				return nil, fmt.Errorf("term %s: no base feature %q", t.Name, f)
			}
			v *= b
		}
		row[i] = v
	}
	return row, nil
}

// Design builds the design matrix (one row per table row, one column per
// term) and the response vector from a table.
func (fs FeatureSet) Design(t *Table) (x [][]float64, y []float64, err error) {
	y, err = t.Column(fs.Target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s response: %w", fs.Name, err)
	}
	cols := map[string][]float64{}
	for _, term := range fs.Terms {
		for _, f := range term.Factors {
			if _, done := cols[f]; done {
				continue
			}
			c, err := t.Column(f)
			if err != nil {
				return nil, nil, fmt.Errorf("%s term %s: %w", fs.Name, term.Name, err)
			}
			cols[f] = c
		}
	}
	x = make([][]float64, t.Len())
	for i := range x {
		x[i] = make([]float64, len(fs.Terms))
		for j, term := range fs.Terms {
			v := 1.0
			for _, f := range term.Factors {
				v *= cols[f][i]
			}
			x[i][j] = v
		}
	}
	return x, y, nil
}

// Meaning phrases a coefficient for a reader: "+0.4 pp per extra block in stage 2 (40 ch)".
func Meaning(estimate float64, unit, per string) string {
	if per == "" {
		return fmt.Sprintf("%.4g %s baseline", estimate, unit)
	}
	return fmt.Sprintf("%+.3g %s per %s", roundSig(estimate, 3), unit, per)
}

func roundSig(v float64, digits int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// stageCols names the base features of one stage.
type stageCols struct {
	label                                     string // "stage 2 (40 ch)"
	depth, meanE, meanK, firstE, firstK, sumE string
	se                                        string // "" when the space has no SE choice
	// sumEDepthFree: the total expansion x depth interaction is identifiable,
	// i.e. at least three depths have non-first blocks. With fewer, it is an
	// exact linear combination of mean expansion and total expansion.
	sumEDepthFree bool
}

func (s stageCols) mainTerms() (depth, meanE, meanK, firstE, firstK, se Term) {
	depth = Term{Name: s.depth, Factors: []string{s.depth}, Per: "extra block in " + s.label}
	meanE = Term{Name: s.meanE, Factors: []string{s.meanE}, Per: "unit of mean expansion of the non-first blocks in " + s.label}
	meanK = Term{Name: s.meanK, Factors: []string{s.meanK}, Per: "unit of mean kernel size of the non-first blocks in " + s.label}
	firstE = Term{Name: s.firstE, Factors: []string{s.firstE}, Per: "unit of expansion of the transition (first) block of " + s.label}
	firstK = Term{Name: s.firstK, Factors: []string{s.firstK}, Per: "unit of kernel size of the transition (first) block of " + s.label}
	se = Term{Name: s.se, Factors: []string{s.se}, Per: "SE block in " + s.label}
	return
}

func interaction(a, b, what, label string) Term {
	return Term{Name: a + ":" + b, Factors: []string{a, b}, Per: "unit of " + what + " in " + label}
}

// mainEffects lists the per-stage main effects grouped by kind, in the
// order of the published R formulas (all depths, all mean expansions, ...).
func mainEffects(stages []stageCols) []Term {
	var groups [6][]Term
	for _, s := range stages {
		d, e, k, fe, fk, se := s.mainTerms()
		groups[0] = append(groups[0], d)
		groups[1] = append(groups[1], e)
		groups[2] = append(groups[2], k)
		groups[3] = append(groups[3], fe)
		groups[4] = append(groups[4], fk)
		if s.se != "" {
			groups[5] = append(groups[5], se)
		}
	}
	var out []Term
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// latencyTerms is the FOX-NAS latency design: the main effects plus
// depth x mean expansion and depth x mean kernel per stage (a stage's cost
// grows with the number of blocks times their per-block cost).
func latencyTerms(stages []stageCols) []Term {
	out := mainEffects(stages)
	for _, s := range stages {
		out = append(out, interaction(s.meanE, s.depth, "depth x mean expansion", s.label))
	}
	for _, s := range stages {
		out = append(out, interaction(s.meanK, s.depth, "depth x mean kernel", s.label))
	}
	return out
}

// accuracyTerms is the FOX-NAS accuracy design: the main effects plus total
// expansion, total expansion x depth (where identifiable) and mean kernel x
// depth per stage.
func accuracyTerms(stages []stageCols) []Term {
	out := mainEffects(stages)
	for _, s := range stages {
		out = append(out, Term{Name: s.sumE, Factors: []string{s.sumE}, Per: "unit of total expansion of the non-first blocks in " + s.label})
	}
	for _, s := range stages {
		if s.sumEDepthFree {
			out = append(out, interaction(s.sumE, s.depth, "total expansion x depth", s.label))
		}
	}
	for _, s := range stages {
		out = append(out, interaction(s.meanK, s.depth, "mean kernel x depth", s.label))
	}
	return out
}

// foxWidths are the FOX-NAS stage widths; the CSV names columns by them.
var foxWidths = []int{24, 40, 80, 112, 160}

func foxStages() []stageCols {
	out := make([]stageCols, len(foxWidths))
	prev := 16
	for i, w := range foxWidths {
		out[i] = stageCols{
			label: fmt.Sprintf("stage %d (%d ch)", i+1, w),
			depth: fmt.Sprintf("tot_%d", w), meanE: fmt.Sprintf("avg_e_%d", w), meanK: fmt.Sprintf("avg_k_%d", w),
			firstE: fmt.Sprintf("tot_e_%d_%d", prev, w), firstK: fmt.Sprintf("tot_k_%d_%d", prev, w),
			sumE: fmt.Sprintf("tot_e_%d", w), sumEDepthFree: true,
		}
		prev = w
	}
	return out
}

// FoxLatencySet is the latency predictor of the public FOX-NAS code
// (performance_predictors/latency.r) over the columns of its CSV: 25 main
// effects and 10 interactions, response column "latency" in ms.
func FoxLatencySet() FeatureSet {
	return FeatureSet{Name: "foxnas-latency", Target: "latency", Unit: "ms", Terms: latencyTerms(foxStages())}
}

// FoxAccuracySet is the accuracy predictor of the public FOX-NAS code
// (performance_predictors/accuracy.r): 25 main effects, 5 total expansions
// and 10 interactions, response column "acc" in percent (coefficients in pp).
func FoxAccuracySet() FeatureSet {
	return FeatureSet{Name: "foxnas-accuracy", Target: "acc", Unit: "pp", Terms: accuracyTerms(foxStages())}
}

// FoxLevels are the values each FOX-NAS architecture coordinate may take.
var (
	FoxDepths  = []float64{2, 3, 4}
	FoxExpands = []float64{2, 3, 4, 6}
	FoxKernels = []float64{3, 5, 7}
)

// FoxCoords is the public code's 25-index encoding of the FOX-NAS space:
// per stage depth, mean expansion and mean kernel of the non-first blocks,
// then the transition block's expansion and kernel. Depth coordinates are
// Primary (moved first during a search). Mean expansion and kernel are
// treated as the block choice of every non-first block, as the public code does.
func FoxCoords() []Coord {
	var out []Coord
	add := func(kind string, levels int, primary bool) {
		for i, w := range foxWidths {
			out = append(out, Coord{Name: fmt.Sprintf("%s_%d(stage %d)", kind, w, i+1), Levels: levels, Weight: 1, Primary: primary})
		}
	}
	add("depth", len(FoxDepths), true)
	add("mean_e", len(FoxExpands), false)
	add("mean_k", len(FoxKernels), false)
	add("first_e", len(FoxExpands), false)
	add("first_k", len(FoxKernels), false)
	return out
}

// FoxBase decodes a FoxCoords state into the CSV's base columns, so a model
// fitted on the CSV can score it.
func FoxBase(x []int) (map[string]float64, error) {
	n := len(foxWidths)
	if len(x) != 5*n {
		return nil, fmt.Errorf("FOX-NAS state has %d coordinates, want %d", len(x), 5*n)
	}
	pick := func(levels []float64, i int) (float64, error) {
		if x[i] < 0 || x[i] >= len(levels) {
			return 0, fmt.Errorf("coordinate %d = %d outside [0,%d)", i, x[i], len(levels))
		}
		return levels[x[i]], nil
	}
	base := map[string]float64{}
	for i, s := range foxStages() {
		var vals [5]float64
		for g, lv := range [][]float64{FoxDepths, FoxExpands, FoxKernels, FoxExpands, FoxKernels} {
			v, err := pick(lv, g*n+i)
			if err != nil {
				return nil, err
			}
			vals[g] = v
		}
		base[s.depth], base[s.meanE], base[s.meanK], base[s.firstE], base[s.firstK] = vals[0], vals[1], vals[2], vals[3], vals[4]
		base[s.sumE] = (vals[0] - 1) * vals[1]
	}
	return base, nil
}
