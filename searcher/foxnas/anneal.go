package foxnas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Coord is one coordinate of a search state: an index into Levels values.
type Coord struct {
	Name   string
	Levels int
	// Weight is the coordinate's relative chance of being moved.
	Weight float64
	// Primary coordinates (the depths, in FOX-NAS) are the only ones moved
	// during the first Config.PrimarySteps steps of each restart: the coarse
	// shape is settled before the block details.
	Primary bool
}

// Problem is what the annealer maximizes: Score over states whose Cost is at
// most Limit.
type Problem struct {
	Coords []Coord
	// Score is maximized (e.g. predicted accuracy).
	Score func(x []int) (float64, error)
	// Cost is the constrained quantity (e.g. predicted latency); nil means unconstrained.
	Cost  func(x []int) (float64, error)
	Limit float64
	// Key identifies the architecture a state stands for, so that states
	// differing only in dormant coordinates count once in the top k; nil
	// uses the coordinates themselves.
	Key func(x []int) string
}

// Config tunes the annealer. Zero fields take the defaults noted.
type Config struct {
	// T0 is the starting temperature in Score units (default 0.1); Greedy
	// (or a negative T0) accepts only non-worsening moves, the public
	// FOX-NAS code's rule without its late small-loss exception.
	T0     float64
	Greedy bool
	// Alpha is the geometric cooling factor per step; 0 picks the factor that
	// ends at T0/1000 after Steps steps.
	Alpha float64
	// Steps per restart (default 5000) and Restarts (default 3).
	Steps, Restarts int
	// TopK distinct architectures kept (default 5).
	TopK int
	// MovesStart coordinates change per move at the first step, falling
	// linearly to MovesEnd at the last (defaults 8 and 5, as the public code;
	// both capped at the number of coordinates).
	MovesStart, MovesEnd int
	// PrimarySteps is the depth-first phase length (default 200, as the public
	// code; negative disables it).
	PrimarySteps int
	// MaxRedraws bounds the proposals drawn per step to satisfy the cost
	// limit, and the random draws for a feasible start (default 1000).
	MaxRedraws int
	Seed       uint64
	// Trace (may be nil) sees every step of every restart, for search logs.
	Trace func(TraceStep)
}

// TraceStep is one annealing step as Config.Trace sees it: the state's
// score and cost after the Metropolis decision.
type TraceStep struct {
	Restart  int     `json:"restart"`
	Step     int     `json:"step"`
	Temp     float64 `json:"temp"`
	Score    float64 `json:"score"`
	Cost     float64 `json:"cost"`
	Best     float64 `json:"best"`
	Accepted bool    `json:"accepted"`
	Feasible bool    `json:"feasible"` // false: no feasible proposal within MaxRedraws
}

func (c Config) withDefaults(ncoord int) Config {
	if c.T0 == 0 {
		c.T0 = 0.1
	}
	if c.Steps <= 0 {
		c.Steps = 5000
	}
	if c.Restarts <= 0 {
		c.Restarts = 3
	}
	if c.TopK <= 0 {
		c.TopK = 5
	}
	if c.MovesStart <= 0 {
		c.MovesStart = 8
	}
	if c.MovesEnd <= 0 {
		c.MovesEnd = min(5, c.MovesStart)
	}
	c.MovesStart, c.MovesEnd = min(c.MovesStart, ncoord), min(c.MovesEnd, ncoord)
	if c.PrimarySteps == 0 {
		c.PrimarySteps = 200
	}
	if c.MaxRedraws <= 0 {
		c.MaxRedraws = 1000
	}
	if c.Alpha == 0 {
		c.Alpha = math.Pow(1e-3, 1/float64(c.Steps))
	}
	return c
}

// Candidate is one architecture found.
type Candidate struct {
	X       []int   `json:"x"`
	Key     string  `json:"key"`
	Score   float64 `json:"score"`
	Cost    float64 `json:"cost"`
	Restart int     `json:"restart"`
	Step    int     `json:"step"`
}

// Stats counts what the search did.
type Stats struct {
	Evaluations int `json:"evaluations"` // Score calls on feasible proposals
	Redraws     int `json:"redraws"`     // proposals rejected by the cost limit
	Accepted    int `json:"accepted"`
	Downhill    int `json:"downhill"` // accepted moves that lowered the score
	Stalled     int `json:"stalled"`  // steps with no feasible proposal within MaxRedraws
}

// Result is the outcome of a search: the top k distinct architectures, best first.
type Result struct {
	Top []Candidate `json:"top"`
	// RestartBest is each restart's best score.
	RestartBest []float64 `json:"restart_best"`
	Stats       Stats     `json:"stats"`
}

// Anneal runs simulated annealing with Metropolis acceptance: a move that
// changes the score by delta is accepted with probability min(1, exp(delta/T)),
// T cooling geometrically. Proposals that break the cost limit are redrawn.
// The same Problem, Config and Seed give the same Result.
func Anneal(p Problem, cfg Config) (*Result, error) {
	if len(p.Coords) == 0 {
		return nil, fmt.Errorf("anneal: no coordinates")
	}
	for i, c := range p.Coords {
		if c.Levels < 1 {
			return nil, fmt.Errorf("anneal: coordinate %d (%s) has %d levels", i, c.Name, c.Levels)
		}
		if c.Weight < 0 || math.IsNaN(c.Weight) {
			return nil, fmt.Errorf("anneal: coordinate %d (%s) has weight %v", i, c.Name, c.Weight)
		}
	}
	if p.Score == nil {
		return nil, fmt.Errorf("anneal: no score function")
	}
	cfg = cfg.withDefaults(len(p.Coords))
	if cfg.Alpha <= 0 || cfg.Alpha > 1 {
		return nil, fmt.Errorf("anneal: cooling factor alpha %v outside (0,1]", cfg.Alpha)
	}
	key := p.Key
	if key == nil {
		key = intsKey
	}
	s := &annealer{p: p, cfg: cfg, key: key, top: map[string]int{}}
	res := &Result{}
	for r := 0; r < cfg.Restarts; r++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(r)+0x616e6e65616c))
		best, err := s.run(rng, r)
		if err != nil {
			return nil, fmt.Errorf("anneal restart %d: %w", r, err)
		}
		res.RestartBest = append(res.RestartBest, best)
	}
	res.Top, res.Stats = s.kept, s.stats
	return res, nil
}

// annealer is the state of one Anneal call: the problem, its settings and
// the distinct candidates kept over all restarts.
type annealer struct {
	p     Problem
	cfg   Config
	key   func([]int) string
	kept  []Candidate
	top   map[string]int // key -> index in kept
	stats Stats
}

func intsKey(x []int) string {
	var b strings.Builder
	for i, v := range x {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

func (s *annealer) cost(x []int) (float64, bool, error) {
	if s.p.Cost == nil {
		return 0, true, nil
	}
	c, err := s.p.Cost(x)
	if err != nil {
		return 0, false, fmt.Errorf("cost of %v: %w", x, err)
	}
	return c, c <= s.p.Limit, nil
}

// start finds a feasible initial state: uniform random draws, then the
// all-lowest state (in the encodings here, index 0 is the cheapest option).
func (s *annealer) start(rng *rand.Rand) ([]int, float64, error) {
	x := make([]int, len(s.p.Coords))
	lowest := math.Inf(1)
	for try := 0; try <= s.cfg.MaxRedraws; try++ {
		for i, c := range s.p.Coords {
			x[i] = 0
			if try < s.cfg.MaxRedraws {
				x[i] = rng.IntN(c.Levels)
			}
		}
		c, ok, err := s.cost(x)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return x, c, nil
		}
		lowest = math.Min(lowest, c)
	}
	return nil, 0, fmt.Errorf("cost limit %.4g unsatisfiable: no feasible state in %d random draws nor the all-lowest state (lowest cost seen %.4g)",
		s.p.Limit, s.cfg.MaxRedraws, lowest)
}

func (s *annealer) run(rng *rand.Rand, restart int) (float64, error) {
	cfg := s.cfg
	x, cost, err := s.start(rng)
	if err != nil {
		return 0, err
	}
	score, err := s.p.Score(x)
	if err != nil {
		return 0, fmt.Errorf("score of %v: %w", x, err)
	}
	s.stats.Evaluations++
	s.keep(x, score, cost, restart, 0)
	best := score
	temp := cfg.T0
	next := make([]int, len(x))
	for step := 1; step <= cfg.Steps; step++ {
		moves := cfg.MovesStart
		if cfg.Steps > 1 {
			moves = cfg.MovesStart + int(math.Round(float64(cfg.MovesEnd-cfg.MovesStart)*float64(step-1)/float64(cfg.Steps-1)))
		}
		weights := s.weights(step <= cfg.PrimarySteps)
		found := false
		var nextCost float64
		for try := 0; try < cfg.MaxRedraws; try++ {
			copy(next, x)
			s.propose(rng, next, weights, moves)
			c, ok, err := s.cost(next)
			if err != nil {
				return 0, err
			}
			if ok {
				found, nextCost = true, c
				break
			}
			s.stats.Redraws++
		}
		if !found {
			s.stats.Stalled++
			if cfg.Trace != nil {
				cfg.Trace(TraceStep{Restart: restart, Step: step, Temp: temp, Score: score, Cost: cost, Best: best})
			}
			temp *= cfg.Alpha
			continue
		}
		nextScore, err := s.p.Score(next)
		if err != nil {
			return 0, fmt.Errorf("score of %v: %w", next, err)
		}
		s.stats.Evaluations++
		s.keep(next, nextScore, nextCost, restart, step)
		delta := nextScore - score
		accept := delta >= 0
		if !accept && !cfg.Greedy && temp > 0 {
			accept = rng.Float64() < math.Exp(delta/temp)
		}
		if accept {
			s.stats.Accepted++
			if delta < 0 {
				s.stats.Downhill++
			}
			copy(x, next)
			score, cost = nextScore, nextCost
			best = math.Max(best, score)
		}
		if cfg.Trace != nil {
			cfg.Trace(TraceStep{Restart: restart, Step: step, Temp: temp, Score: score, Cost: cost, Best: best, Accepted: accept, Feasible: true})
		}
		temp *= cfg.Alpha
	}
	return best, nil
}

// weights returns the coordinate selection weights, restricted to the
// primary coordinates during the depth-first phase (if there are any).
func (s *annealer) weights(primaryPhase bool) []float64 {
	w := make([]float64, len(s.p.Coords))
	found := false
	if primaryPhase {
		for i, c := range s.p.Coords {
			if c.Primary && c.Levels > 1 {
				w[i], found = math.Max(c.Weight, 1e-12), true
			}
		}
	}
	if !found {
		for i, c := range s.p.Coords {
			if c.Levels > 1 {
				w[i] = c.Weight
			}
		}
	}
	return w
}

// propose moves up to m coordinates, drawn without replacement in
// proportion to w, each by -1, 0 or +1 (uniform over the in-range moves).
func (s *annealer) propose(rng *rand.Rand, x []int, w []float64, m int) {
	w = append([]float64(nil), w...)
	for k := 0; k < m; k++ {
		total := 0.0
		for _, v := range w {
			total += v
		}
		if total <= 0 {
			return
		}
		u := rng.Float64() * total
		i := 0
		for ; i < len(w)-1; i++ {
			if u < w[i] {
				break
			}
			u -= w[i]
		}
		if w[i] == 0 { // rounding at the end of the walk
			for i = len(w) - 1; w[i] == 0; i-- {
			}
		}
		w[i] = 0
		var opts [3]int
		n := 0
		for _, d := range [3]int{-1, 0, 1} {
			if v := x[i] + d; v >= 0 && v < s.p.Coords[i].Levels {
				opts[n] = d
				n++
			}
		}
		x[i] += opts[rng.IntN(n)]
	}
}

// keep records a candidate in the top k, once per architecture key.
func (s *annealer) keep(x []int, score, cost float64, restart, step int) {
	k := s.key(x)
	if i, ok := s.top[k]; ok {
		if score <= s.kept[i].Score {
			return
		}
		s.kept[i] = Candidate{X: append([]int(nil), x...), Key: k, Score: score, Cost: cost, Restart: restart, Step: step}
	} else {
		if len(s.kept) >= s.cfg.TopK && !better(score, k, s.kept[len(s.kept)-1]) {
			return
		}
		s.kept = append(s.kept, Candidate{X: append([]int(nil), x...), Key: k, Score: score, Cost: cost, Restart: restart, Step: step})
	}
	sort.SliceStable(s.kept, func(a, b int) bool { return better(s.kept[a].Score, s.kept[a].Key, s.kept[b]) })
	if len(s.kept) > s.cfg.TopK {
		s.kept = s.kept[:s.cfg.TopK]
	}
	clear(s.top)
	for i, c := range s.kept {
		s.top[c.Key] = i
	}
}

func better(score float64, key string, c Candidate) bool {
	if score != c.Score {
		return score > c.Score
	}
	return key < c.Key
}
