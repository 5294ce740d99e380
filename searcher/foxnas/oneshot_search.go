package foxnas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"edgenas/searcher/spnas"
	"edgenas/space"
)

// Response columns of the tables built from sampled architectures; the
// space feature sets (SpaceAccuracySet, SpaceLatencySet) read them.
const (
	AccuracyColumn = "accuracy"
	LatencyColumn  = "latency"
)

// ArchTable builds a predictor table from architectures: the base features
// (FeatureNames) plus response columns, one value per architecture each.
// name labels the table in error messages and saved models.
func ArchTable(name string, archs []space.Arch, responses map[string][]float64) (*Table, error) {
	if len(archs) == 0 {
		return nil, fmt.Errorf("%s: no architectures", name)
	}
	s := archs[0].Space
	cols := FeatureNames(s)
	resp := make([]string, 0, len(responses))
	for c, v := range responses {
		if len(v) != len(archs) {
			return nil, fmt.Errorf("%s: column %s has %d values for %d architectures", name, c, len(v), len(archs))
		}
		resp = append(resp, c)
	}
	sort.Strings(resp)
	t := &Table{Name: name, Columns: append(cols, resp...), index: map[string]int{}}
	for i, c := range t.Columns {
		if _, dup := t.index[c]; dup {
			return nil, fmt.Errorf("%s: column %q twice", name, c)
		}
		t.index[c] = i
	}
	for i, a := range archs {
		f, err := Features(a)
		if err != nil {
			return nil, fmt.Errorf("%s row %d: %w", name, i, err)
		}
		row := make([]string, 0, len(t.Columns))
		for _, v := range f {
			row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
		}
		for _, c := range resp {
			row = append(row, strconv.FormatFloat(responses[c][i], 'g', -1, 64))
		}
		t.rows = append(t.rows, row)
	}
	return t, nil
}

// LatencySamples draws n architectures with ArchEncoding.Random from seed
// and returns them with their LUT table sums: the latency predictor's
// training set (cheap, so it can be much larger than the accuracy set).
func LatencySamples(enc *ArchEncoding, rt *spnas.Runtime, n int, seed uint64) ([]space.Arch, []float64, error) {
	if n <= 0 || rt == nil {
		return nil, nil, fmt.Errorf("latency samples: need a runtime table and a positive count (got %d)", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6174))
	archs := make([]space.Arch, n)
	ms := make([]float64, n)
	for i := range archs {
		archs[i] = enc.Random(rng)
		v, err := rt.Exact(archs[i])
		if err != nil {
			return nil, nil, err
		}
		ms[i] = v
	}
	return archs, ms, nil
}

// BandProblem is the FOX-NAS search problem with the comparison's latency
// rule: maximise acc's prediction over architectures whose lat prediction
// is within tol (relative) of targetMS on either side, the same band the
// random baseline samples from. The annealer's Cost is the relative
// deviation |lat/target - 1| and its Limit tol.
func (e *ArchEncoding) BandProblem(acc, lat *Model, targetMS, tol float64) (Problem, error) {
	if !(targetMS > 0) || !(tol > 0) {
		return Problem{}, fmt.Errorf("search problem: target %v ms and tolerance %v must be positive", targetMS, tol)
	}
	p, err := e.Problem(acc, lat, targetMS)
	if err != nil {
		return Problem{}, err
	}
	cost := p.Cost
	p.Cost = func(x []int) (float64, error) {
		ms, err := cost(x)
		if err != nil {
			return 0, err
		}
		return math.Abs(ms/targetMS - 1), nil
	}
	p.Limit = tol
	return p, nil
}

// Pick is one architecture the search returns, with every latency figure.
type Pick struct {
	Arch string `json:"arch"`
	// PredictedAcc and PredictedMS are the FOX-NAS predictors' values;
	// TableMS the LUT table sum (what the random baseline is held to).
	PredictedAcc float64 `json:"predicted_accuracy"`
	PredictedMS  float64 `json:"predictor_ms"`
	TableMS      float64 `json:"table_ms"`
	// WithinTable: TableMS is within the tolerance of the target too.
	WithinTable bool `json:"within_tolerance_table"`
	Restart     int  `json:"restart"`
	Step        int  `json:"step"`
}

// RankPicks turns the annealer's top k into picks, ordered so that those
// whose table latency is also within tol of the target come first (each
// group by predicted accuracy): the latency predictor is a regression and
// may pass an architecture the table places just outside the band, and the
// pick must obey the same latency rule as the baselines when it can.
func (e *ArchEncoding) RankPicks(res *Result, acc, lat *Model, rt *spnas.Runtime, targetMS, tol float64) ([]Pick, error) {
	var out []Pick
	for _, c := range res.Top {
		a, err := e.Decode(c.X)
		if err != nil {
			return nil, err
		}
		b, err := BaseFeatures(a)
		if err != nil {
			return nil, err
		}
		p := Pick{Arch: a.String(), PredictedAcc: c.Score, Restart: c.Restart, Step: c.Step}
		if p.PredictedMS, err = lat.Predict(b); err != nil {
			return nil, err
		}
		if p.TableMS, err = rt.Exact(a); err != nil {
			return nil, err
		}
		p.WithinTable = math.Abs(p.TableMS/targetMS-1) <= tol
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].WithinTable != out[j].WithinTable {
			return out[i].WithinTable
		}
		return out[i].PredictedAcc > out[j].PredictedAcc
	})
	return out, nil
}
