package evaluate

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// The RI intervals are percentile bootstrap 95% intervals over
// BootstrapResamples resamples drawn from a generator seeded with
// BootstrapSeed, so a report is reproducible from its trainings.
const (
	BootstrapResamples = 10000
	BootstrapSeed      = 1
)

// Interval is a confidence interval [Lo, Hi].
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Excludes reports whether x lies outside the interval.
func (iv Interval) Excludes(x float64) bool { return x < iv.Lo || x > iv.Hi }

// unit is one resampling unit: one architecture of a run (a search's pick,
// or one of a random run's architectures) with the accuracies of all its
// training seeds. Seeds of one architecture are not independent draws of
// the method, so they stay together.
type unit struct {
	float, int8 []float64
}

// sums returns the unit's accuracy sum for the chosen kind and its count.
func (u unit) sums(int8 bool) (float64, int) {
	xs := u.float
	if int8 {
		xs = u.int8
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s, len(xs)
}

// unitsOf groups trainings by (run, candidate), in first-seen order.
func unitsOf(ts []*Training) []unit {
	type key struct {
		run  string
		cand int
	}
	idx := map[key]int{}
	var out []unit
	for _, t := range ts {
		k := key{t.Run, t.Candidate}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, unit{})
		}
		out[i].float = append(out[i].float, t.FloatAcc)
		out[i].int8 = append(out[i].int8, t.Int8Acc)
	}
	return out
}

// ri is 100*(method mean - random mean)/random mean, the RI of Group.
func ri(m, r float64) float64 { return 100 * (m - r) / r }

// bootstrapRI returns the percentile bootstrap interval (level, e.g. 0.95)
// of the RI of method's mean accuracy over random's. Each resample draws the
// method's units and random's units with replacement, independently, and
// takes each side's mean over all trainings of the drawn units (the same
// mean RI uses). int8 chooses int8 or float accuracy.
func bootstrapRI(method, random []unit, int8 bool, level float64, resamples int, seed uint64) (Interval, error) {
	switch {
	case len(method) == 0 || len(random) == 0:
		return Interval{}, fmt.Errorf("bootstrap RI: %d method and %d random architectures, need at least one each", len(method), len(random))
	case resamples < 2:
		return Interval{}, fmt.Errorf("bootstrap RI: %d resamples, need at least 2", resamples)
	case !(level > 0 && level < 1):
		return Interval{}, fmt.Errorf("bootstrap RI: level %v outside (0,1)", level)
	}
	rng := rand.New(rand.NewPCG(seed, 0x626f6f74))
	mean := func(us []unit) float64 {
		var s float64
		var n int
		for range us {
			us1, n1 := us[rng.IntN(len(us))].sums(int8)
			s, n = s+us1, n+n1
		}
		return s / float64(n)
	}
	vals := make([]float64, 0, resamples)
	for range resamples {
		m, r := mean(method), mean(random)
		if r > 0 {
			vals = append(vals, ri(m, r))
		}
	}
	if len(vals) < 2 {
		return Interval{}, fmt.Errorf("bootstrap RI: random's accuracy is 0 in %d of %d resamples", resamples-len(vals), resamples)
	}
	slices.Sort(vals)
	a := (1 - level) / 2
	return Interval{Lo: quantile(vals, a), Hi: quantile(vals, 1-a)}, nil
}

// quantile of sorted values at p in [0,1], interpolating linearly between
// order statistics (R's type 7).
func quantile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	lo := int(h)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
