package evaluate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// units makes n architectures with seeds trainings each, accuracies
// mean + sd*N(0,1) from rng (float and int8 alike).
func units(rng *rand.Rand, n, seeds int, mean, sd float64) []unit {
	out := make([]unit, n)
	for i := range out {
		for range seeds {
			x := mean + sd*rng.NormFloat64()
			out[i].float = append(out[i].float, x)
			out[i].int8 = append(out[i].int8, x-0.001)
		}
	}
	return out
}

// The interval on constructed data with known answers: identical groups
// straddle 0, clearly separated groups exclude it and hold the true RI, a
// group without spread gives a point interval at the exact RI.
func TestBootstrapRI(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	same := units(rng, 6, 2, 0.89, 0.005)
	tests := []struct {
		name           string
		method, random []unit
		wantZero       bool    // the interval contains 0
		wantInside     float64 // a value the interval must contain
		maxWidth       float64 // in RI percentage points
	}{
		{name: "identical groups", method: same, random: same, wantZero: true, wantInside: 0, maxWidth: 2},
		{name: "same distribution", method: units(rng, 5, 1, 0.89, 0.005), random: units(rng, 5, 1, 0.89, 0.005), wantZero: true, wantInside: 0, maxWidth: 2},
		{name: "separated", method: units(rng, 3, 3, 0.90, 0.002), random: units(rng, 5, 1, 0.85, 0.002),
			wantInside: 100 * (0.90 - 0.85) / 0.85, maxWidth: 1},
		{name: "worse than random", method: units(rng, 3, 1, 0.80, 0.002), random: units(rng, 5, 1, 0.85, 0.002),
			wantInside: 100 * (0.80 - 0.85) / 0.85, maxWidth: 1},
		{name: "no spread", method: []unit{{float: []float64{0.9}, int8: []float64{0.9}}},
			random: []unit{{float: []float64{0.8, 0.8}, int8: []float64{0.8, 0.8}}}, wantInside: 12.5, maxWidth: 1e-9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iv, err := bootstrapRI(tc.method, tc.random, false, 0.95, BootstrapResamples, BootstrapSeed)
			if err != nil {
				t.Fatal(err)
			}
			if iv.Excludes(0) == tc.wantZero {
				t.Errorf("interval %+v: contains 0 = %v, want %v", iv, !iv.Excludes(0), tc.wantZero)
			}
			if iv.Lo > tc.wantInside+1e-9 || iv.Hi < tc.wantInside-1e-9 || iv.Hi-iv.Lo > tc.maxWidth || iv.Lo > iv.Hi {
				t.Errorf("interval %+v: want it around %.3f and at most %.2f wide", iv, tc.wantInside, tc.maxWidth)
			}
		})
	}
}

// The same seed gives the same interval; another seed a slightly
// different one; float and int8 accuracies are kept apart.
func TestBootstrapRIDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m, r := units(rng, 3, 1, 0.895, 0.004), units(rng, 5, 1, 0.89, 0.005)
	a, err1 := bootstrapRI(m, r, true, 0.95, 2000, 7)
	b, err2 := bootstrapRI(m, r, true, 0.95, 2000, 7)
	c, err3 := bootstrapRI(m, r, true, 0.95, 2000, 8)
	f, err4 := bootstrapRI(m, r, false, 0.95, 2000, 7)
	if err := errorsJoin(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("same seed: %+v then %+v", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same interval %+v", a)
	}
	if a == f {
		t.Errorf("int8 and float intervals identical %+v", a)
	}
	if math.Abs(a.Lo-c.Lo) > 0.1 || math.Abs(a.Hi-c.Hi) > 0.1 {
		t.Errorf("seeds 7 and 8 disagree by more than 0.1 pp: %+v %+v", a, c)
	}
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func TestBootstrapRIErrors(t *testing.T) {
	one := []unit{{float: []float64{0.9}, int8: []float64{0.9}}}
	zero := []unit{{float: []float64{0}, int8: []float64{0}}}
	tests := []struct {
		name           string
		method, random []unit
		resamples      int
		level          float64
		err            string
	}{
		{name: "no method", random: one, resamples: 10, level: 0.95, err: "0 method and 1 random"},
		{name: "no random", method: one, resamples: 10, level: 0.95, err: "1 method and 0 random"},
		{name: "one resample", method: one, random: one, resamples: 1, level: 0.95, err: "1 resamples"},
		{name: "level 1", method: one, random: one, resamples: 10, level: 1, err: "level 1"},
		{name: "random at zero", method: one, random: zero, resamples: 10, level: 0.95, err: "random's accuracy is 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bootstrapRI(tc.method, tc.random, false, tc.level, tc.resamples, 1)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5}
	for _, tc := range []struct{ p, want float64 }{{0, 1}, {1, 5}, {0.5, 3}, {0.125, 1.5}, {0.975, 4.9}} {
		if got := quantile(v, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
