package foxnas

import (
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
)

// quadratic is a separable concave objective with a linear cost whose
// unconstrained optimum is infeasible, so the constraint binds.
type quadratic struct {
	c, w, a []float64
	limit   float64
	levels  int
}

func (q quadratic) problem() Problem {
	coords := make([]Coord, len(q.c))
	for i := range coords {
		coords[i] = Coord{Name: string(rune('a' + i)), Levels: q.levels, Weight: 1}
	}
	return Problem{
		Coords: coords,
		Score: func(x []int) (float64, error) {
			s := 0.0
			for i, v := range x {
				d := float64(v) - q.c[i]
				s -= q.w[i] * d * d
			}
			return s, nil
		},
		Cost: func(x []int) (float64, error) {
			s := 0.0
			for i, v := range x {
				s += q.a[i] * float64(v)
			}
			return s, nil
		},
		Limit: q.limit,
	}
}

// bruteForce scores every feasible state and returns the scores sorted best first.
func bruteForce(t *testing.T, p Problem) []float64 {
	x := make([]int, len(p.Coords))
	var scores []float64
	for {
		c, _ := p.Cost(x)
		if c <= p.Limit {
			s, _ := p.Score(x)
			scores = append(scores, s)
		}
		i := 0
		for ; i < len(x); i++ {
			x[i]++
			if x[i] < p.Coords[i].Levels {
				break
			}
			x[i] = 0
		}
		if i == len(x) {
			break
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(scores)))
	return scores
}

func TestAnnealFindsKnownOptimum(t *testing.T) {
	q := quadratic{c: []float64{3, 3, 2, 3, 1}, w: []float64{1, 2, 0.5, 1.5, 1}, a: []float64{1, 2, 1, 3, 1}, limit: 10, levels: 4}
	p := q.problem()
	want := bruteForce(t, p)
	for seed := uint64(1); seed <= 3; seed++ {
		res, err := Anneal(p, Config{T0: 1, Steps: 1500, Restarts: 2, TopK: 3, MovesStart: 3, MovesEnd: 1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Top) != 3 {
			t.Fatalf("seed %d: %d candidates kept, want 3", seed, len(res.Top))
		}
		seen := map[string]bool{}
		for i, c := range res.Top {
			if c.Score != want[i] {
				t.Errorf("seed %d: candidate %d score %v, brute force %v", seed, i, c.Score, want[i])
			}
			if c.Cost > q.limit || seen[c.Key] {
				t.Errorf("seed %d: candidate %+v infeasible or repeated", seed, c)
			}
			seen[c.Key] = true
		}
	}
}

// trap is deceptive per coordinate: a local peak at 0 (value 3) whose
// slope leads away from the global peak at 9 (value 8) across a valley.
func trap(x []int) (float64, error) {
	s := 0.0
	for _, v := range x {
		u := float64(v)
		s += math.Max(3-u, 2*(u-5))
	}
	return s, nil
}

func TestAnnealBeatsGreedyOnDeceptiveObjective(t *testing.T) {
	coords := make([]Coord, 6)
	for i := range coords {
		coords[i] = Coord{Name: "u", Levels: 10, Weight: 1}
	}
	p := Problem{Coords: coords, Score: trap}
	const seeds = 5
	var saSum, greedySum float64
	saOptimal := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		// Cool from 4 to 0.2: hot enough to cross the valley (depth 4) early,
		// cold enough at the end to settle on a peak.
		cfg := Config{T0: 4, Alpha: math.Pow(0.2/4, 1.0/6000), Steps: 6000, Restarts: 1, MovesStart: 1, MovesEnd: 1, Seed: seed}
		sa, err := Anneal(p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Greedy = true
		gr, err := Anneal(p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: annealing %v, greedy %v (optimum 48); annealing accepted %d downhill moves",
			seed, sa.Top[0].Score, gr.Top[0].Score, sa.Stats.Downhill)
		saSum += sa.Top[0].Score
		greedySum += gr.Top[0].Score
		if sa.Top[0].Score == 48 {
			saOptimal++
		}
		if gr.Stats.Downhill != 0 {
			t.Errorf("greedy accepted %d downhill moves", gr.Stats.Downhill)
		}
	}
	if saSum <= greedySum+5*seeds || saOptimal < 4 {
		t.Errorf("annealing mean %.1f (optimal in %d of %d), greedy mean %.1f: want annealing ahead by > 5 and optimal in >= 4",
			saSum/seeds, saOptimal, seeds, greedySum/seeds)
	}
}

func TestAnnealDeterministic(t *testing.T) {
	q := quadratic{c: []float64{5, 1, 4, 2}, w: []float64{1, 1, 1, 1}, a: []float64{1, 1, 1, 1}, limit: 8, levels: 6}
	cfg := Config{Steps: 300, Restarts: 2, Seed: 42}
	a, err := Anneal(q.problem(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Anneal(q.problem(), cfg)
	if len(a.Top) != len(b.Top) || a.Stats != b.Stats {
		t.Fatalf("same seed, different runs: %+v vs %+v", a.Stats, b.Stats)
	}
	for i := range a.Top {
		if a.Top[i].Key != b.Top[i].Key || a.Top[i].Score != b.Top[i].Score {
			t.Errorf("candidate %d differs: %+v vs %+v", i, a.Top[i], b.Top[i])
		}
	}
	cfg.Seed = 43
	c, _ := Anneal(q.problem(), cfg)
	if c.Stats == a.Stats {
		t.Errorf("seeds 42 and 43 gave identical statistics %+v", a.Stats)
	}
}

func TestAnnealErrors(t *testing.T) {
	q := quadratic{c: []float64{1, 1}, w: []float64{1, 1}, a: []float64{1, 1}, limit: -1, levels: 3}
	tests := []struct {
		name string
		p    Problem
		cfg  Config
		want string
	}{
		{"unsatisfiable", q.problem(), Config{MaxRedraws: 50}, "cost limit -1 unsatisfiable: no feasible state in 50 random draws nor the all-lowest state (lowest cost seen 0)"},
		{"no coords", Problem{Score: trap}, Config{}, "no coordinates"},
		{"no score", Problem{Coords: []Coord{{Name: "a", Levels: 2, Weight: 1}}}, Config{}, "no score function"},
		{"zero levels", Problem{Coords: []Coord{{Name: "a", Levels: 0}}, Score: trap}, Config{}, "coordinate 0 (a) has 0 levels"},
		{"alpha", Problem{Coords: []Coord{{Name: "a", Levels: 2, Weight: 1}}, Score: trap}, Config{Alpha: 1.5}, "alpha 1.5 outside (0,1]"},
		{"score error", Problem{Coords: []Coord{{Name: "a", Levels: 2, Weight: 1}},
			Score: func([]int) (float64, error) { return 0, errors.New("boom") }}, Config{}, "boom"},
	}
	for _, tc := range tests {
		_, err := Anneal(tc.p, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestAnnealTightConstraintStartsLow: when random states are all too
// costly, the search starts from the all-lowest state and stays feasible.
func TestAnnealTightConstraintStartsLow(t *testing.T) {
	q := quadratic{c: []float64{3, 3, 3, 3, 3, 3}, w: []float64{1, 1, 1, 1, 1, 1}, a: []float64{1, 1, 1, 1, 1, 1}, limit: 1, levels: 4}
	res, err := Anneal(q.problem(), Config{Steps: 200, Restarts: 1, MaxRedraws: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Top[0].Cost > 1 || res.Top[0].Score != -9*5-4 {
		t.Errorf("best %+v, want cost 1 and score -49", res.Top[0])
	}
}
