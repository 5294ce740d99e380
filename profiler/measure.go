package profiler

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Protocol is the measurement stopping rule. A candidate is done once it has
// at least MinRuns samples and MinSecs of measured time AND the Level
// confidence interval of its median lies within RelTol of the median; a
// candidate that reaches MaxSecs first stops and is flagged unstable.
type Protocol struct {
	WarmupRuns int
	WarmupSecs float64
	MinRuns    int
	MinSecs    float64
	MaxSecs    float64
	RelTol     float64
	Level      float64
	// MinSampleMicros batches invocations of very short candidates into one
	// timed sample (their mean) so timer granularity does not dominate.
	MinSampleMicros float64
	// Seed fixes the shuffled interleaving order.
	Seed uint64
}

// DefaultProtocol is the protocol edgenas uses for latency tables.
func DefaultProtocol() Protocol {
	return Protocol{WarmupRuns: 5, WarmupSecs: 0.05, MinRuns: 25, MinSecs: 0.1, MaxSecs: 5, RelTol: 0.01,
		Level: 0.95, MinSampleMicros: 200}
}

func (p Protocol) validate() error {
	switch {
	case p.MinRuns < 6:
		return fmt.Errorf("protocol: MinRuns %d is below 6, too few for a median interval", p.MinRuns)
	case p.MaxSecs <= 0 || p.MaxSecs < p.MinSecs:
		return fmt.Errorf("protocol: MaxSecs %g must be positive and at least MinSecs %g", p.MaxSecs, p.MinSecs)
	case p.RelTol <= 0:
		return fmt.Errorf("protocol: RelTol %g must be positive", p.RelTol)
	case p.Level <= 0 || p.Level >= 1:
		return fmt.Errorf("protocol: Level %g must be in (0,1)", p.Level)
	}
	return nil
}

// Candidate is one thing to time: Invoke runs it once.
type Candidate struct {
	Name   string
	Invoke func() error
}

// Measurement is one candidate's result.
type Measurement struct {
	Name  string `json:"name"`
	Stats Stats  `json:"stats"`
	// CIRel is the half-width of the median's confidence interval relative to
	// the median, capped at 1 (also when there were too few samples for one).
	CIRel float64 `json:"ci_rel"`
	// Unstable: MaxSecs was reached before the interval was tight enough.
	Unstable bool `json:"unstable,omitempty"`
	// Batch is how many invocations each sample averaged.
	Batch      int        `json:"batch"`
	Conditions Conditions `json:"conditions"`
	// Retried: the first attempt ran under throttling or heavy load.
	Retried bool `json:"retried,omitempty"`
}

// Measure times the candidates together, interleaved round-robin in a freshly
// shuffled order each round, so machine drift spreads over all of them rather
// than biasing whichever ran last. Conditions are recorded per call; when the
// machine was throttled or busy the whole group is measured once more and the
// second result kept (still marked by its conditions if it stayed suspect).
func Measure(ctx context.Context, cands []Candidate, p Protocol, backend string, threads int) ([]Measurement, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	res, err := measureOnce(ctx, cands, p, backend, threads)
	if err != nil {
		return nil, err
	}
	if res[0].Conditions.Suspect() {
		p.Seed++
		again, err := measureOnce(ctx, cands, p, backend, threads)
		if err != nil {
			return nil, err
		}
		for i := range again {
			again[i].Retried = true
		}
		return again, nil
	}
	return res, nil
}

type state struct {
	batch   int
	samples []float64
	spent   time.Duration
	done    bool
	res     Measurement
}

func measureOnce(ctx context.Context, cands []Candidate, p Protocol, backend string, threads int) ([]Measurement, error) {
	cond := ReadConditions(ctx, backend, threads)
	before := readSnapshot()
	st := make([]*state, len(cands))
	for i, c := range cands {
		st[i] = &state{batch: 1}
		// Warm-up also sizes the batch from the fastest warm-up run.
		best := time.Duration(math.MaxInt64)
		t0 := time.Now()
		for n := 0; n < p.WarmupRuns || time.Since(t0).Seconds() < p.WarmupSecs; n++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s := time.Now()
			if err := c.Invoke(); err != nil {
				return nil, fmt.Errorf("%s: warm-up: %w", c.Name, err)
			}
			best = min(best, time.Since(s))
			if time.Since(t0).Seconds() > p.MaxSecs {
				break
			}
		}
		if us := micros(best); us > 0 && us < p.MinSampleMicros {
			st[i].batch = int(math.Ceil(p.MinSampleMicros / us))
		}
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x70726f66))
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	for active := len(cands); active > 0; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, i := range order {
			s := st[i]
			if s.done {
				continue
			}
			t0 := time.Now()
			for k := 0; k < s.batch; k++ {
				if err := cands[i].Invoke(); err != nil {
					return nil, fmt.Errorf("%s: %w", cands[i].Name, err)
				}
			}
			d := time.Since(t0)
			s.spent += d
			s.samples = append(s.samples, micros(d)/float64(s.batch))
			if s.check(p) {
				active--
			}
		}
	}
	cond.finish(ctx, before)
	out := make([]Measurement, len(cands))
	for i, s := range st {
		out[i] = s.res
		out[i].Name = cands[i].Name
		out[i].Batch = s.batch
		out[i].Conditions = cond
	}
	return out, nil
}

// check applies the stopping rule; it reports whether the candidate just finished.
func (s *state) check(p Protocol) bool {
	n := len(s.samples)
	timeUp := s.spent.Seconds() >= p.MaxSecs
	if n < p.MinRuns && !timeUp {
		return false
	}
	if s.spent.Seconds() < p.MinSecs && !timeUp {
		return false
	}
	sorted := append([]float64(nil), s.samples...)
	sort.Float64s(sorted)
	med := Quantile(sorted, 0.5)
	lo, hi, ok := MedianCI(sorted, p.Level)
	rel := math.Inf(1)
	if ok && med > 0 {
		rel = math.Max(med-lo, hi-med) / med
	}
	if rel > p.RelTol && !timeUp {
		return false
	}
	s.done = true
	// Without an interval (too few samples when time ran out) the relative
	// half-width is reported as 100%: the entry is unstable, not unknown.
	s.res = Measurement{Stats: SummarizeMicros(s.samples), CIRel: math.Min(rel, 1), Unstable: rel > p.RelTol}
	return true
}
