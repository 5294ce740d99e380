package profiler

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestSummarizeKnown(t *testing.T) {
	tests := []struct {
		in   []float64
		want Stats
	}{
		{[]float64{5}, Stats{Count: 1, Min: 5, P10: 5, P50: 5, P90: 5, Max: 5, Mean: 5}},
		{[]float64{4, 1, 3, 2}, Stats{Count: 4, Min: 1, P10: 1.3, P50: 2.5, P90: 3.7, Max: 4, Mean: 2.5,
			Std: math.Sqrt(1.25), MAD: 1, CV: math.Sqrt(1.25) / 2.5}},
		{[]float64{1, 2, 3, 4, 100}, Stats{Count: 5, Min: 1, P10: 1.4, P50: 3, P90: 61.6, Max: 100, Mean: 22,
			Std: math.Sqrt((441 + 400 + 361 + 324 + 78*78) / 5.0), MAD: 1, CV: math.Sqrt((441+400+361+324+78*78)/5.0) / 22}},
	}
	for _, tc := range tests {
		got := SummarizeMicros(tc.in)
		if !close(got, tc.want) {
			t.Errorf("SummarizeMicros(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if (SummarizeMicros(nil) != Stats{}) {
		t.Errorf("empty sample should give zero Stats")
	}
}

func close(a, b Stats) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) }
	return a.Count == b.Count && eq(a.Min, b.Min) && eq(a.P10, b.P10) && eq(a.P50, b.P50) && eq(a.P90, b.P90) &&
		eq(a.Max, b.Max) && eq(a.Mean, b.Mean) && eq(a.Std, b.Std) && eq(a.MAD, b.MAD) && eq(a.CV, b.CV)
}

// Large samples from known distributions approach their analytic values.
func TestSummarizeDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 200000
	normal := make([]float64, n)
	uniform := make([]float64, n)
	for i := range normal {
		normal[i] = 100 + 10*rng.NormFloat64()
		uniform[i] = 50 + 100*rng.Float64()
	}
	s := SummarizeMicros(normal)
	// Normal(100, 10): p10/p90 = mean -+ 12.8155, MAD = 0.67449 sigma.
	checks := []struct {
		name      string
		got, want float64
	}{
		{"normal mean", s.Mean, 100}, {"normal std", s.Std, 10}, {"normal p50", s.P50, 100},
		{"normal p10", s.P10, 100 - 12.8155}, {"normal p90", s.P90, 100 + 12.8155},
		{"normal MAD", s.MAD, 6.7449}, {"normal cv", s.CV * 100, 10},
	}
	u := SummarizeMicros(uniform)
	checks = append(checks, []struct {
		name      string
		got, want float64
	}{{"uniform p10", u.P10, 60}, {"uniform p50", u.P50, 100}, {"uniform std", u.Std, 100 / math.Sqrt(12)}, {"uniform MAD", u.MAD, 25}}...)
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 0.2 {
			t.Errorf("%s = %.4f, want %.4f +- 0.2", c.name, c.got, c.want)
		}
	}
}

// The 95% median interval covers the true median in about 95% of samples.
func TestMedianCICoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	covered, trials := 0, 2000
	for k := 0; k < trials; k++ {
		x := make([]float64, 41)
		for i := range x {
			x[i] = rng.ExpFloat64() // median ln 2
		}
		sort.Float64s(x)
		lo, hi, ok := MedianCI(x, 0.95)
		if !ok {
			t.Fatal("no interval for n=41")
		}
		if lo <= math.Ln2 && math.Ln2 <= hi {
			covered++
		}
	}
	rate := float64(covered) / float64(trials)
	if rate < 0.93 || rate > 0.985 {
		t.Errorf("coverage %.3f, want about 0.95", rate)
	}
	if _, _, ok := MedianCI([]float64{1, 2, 3}, 0.95); ok {
		t.Errorf("tiny sample should give no interval")
	}
}

func TestNormalQuantile(t *testing.T) {
	for _, tc := range []struct{ p, z float64 }{{0.5, 0}, {0.975, 1.959964}, {0.9, 1.281552}, {0.01, -2.326348}} {
		if got := normalQuantile(tc.p); math.Abs(got-tc.z) > 1e-5 {
			t.Errorf("normalQuantile(%v) = %v, want %v", tc.p, got, tc.z)
		}
	}
}
