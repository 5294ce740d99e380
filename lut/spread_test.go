package lut

import (
	"slices"
	"strings"
	"testing"

	"edgenas/space"
)

// The calibration sample must reach both ends of the space, where a uniform
// sample of the same size does not, and be reproducible from its seed.
func TestSpreadArchsSpansTheRange(t *testing.T) {
	s, _, tab, rt := macRuntime(t)
	sum, _ := NewLUTPredictor(tab)
	sums := func(as []space.Arch) []float64 {
		var out []float64
		for _, a := range as {
			p, err := sum.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Millis)
		}
		slices.Sort(out)
		return out
	}
	// The space's range: fastest and slowest option per slot.
	lo, hi := rt.Constant, rt.Constant
	for i, sl := range s.Slots() {
		mn, mx := rt.R[i][0], rt.R[i][0]
		for op := range 4 {
			mn, mx = min(mn, rt.R[i][op]), max(mx, rt.R[i][op]+rt.SE[i][op])
		}
		if sl.Skippable {
			mn = 0
		}
		lo, hi = lo+mn, hi+mx
	}
	spread, err := SpreadArchs(s, tab, 12, 7)
	if err != nil {
		t.Fatal(err)
	}
	var uniform []space.Arch
	for i := range 12 {
		uniform = append(uniform, s.RandomSeed(uint64(1_000_000+i)))
	}
	sp, un := sums(spread), sums(uniform)
	cover := func(v []float64) float64 { return (v[len(v)-1] - v[0]) / (hi - lo) }
	if cover(sp) < 0.6 || cover(sp) < 2*cover(un) {
		t.Errorf("spread sample covers %.0f%% of %.3f-%.3f ms, uniform %.0f%%", 100*cover(sp), lo, hi, 100*cover(un))
	}
	again, _ := SpreadArchs(s, tab, 12, 7)
	for i := range spread {
		if spread[i].String() != again[i].String() {
			t.Fatalf("not reproducible: %s vs %s", spread[i], again[i])
		}
	}
	seen := map[string]bool{}
	for _, a := range spread {
		if seen[a.String()] {
			t.Errorf("%s drawn twice", a)
		}
		seen[a.String()] = true
	}
	if _, err := SpreadArchs(s, tab, 1000, 1); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized request: %v", err)
	}
}
