package lut

import (
	"math"
	"strings"
	"testing"

	"edgenas/space"
)

// A synthetic table where every key costs its MAC count in microseconds makes
// the formula checkable: exact for k3e6/k5e3/k5e6, and SE adds its own cost.
func TestSpaceRuntimeMatchesLUTSum(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	ms := map[string]float64{}
	for _, l := range s.UniqueKeys() {
		ms[l.Key()] = float64(l.MACs())/1e6 + 0.01
	}
	tab, err := TableFromMillis("dev", "ref", 1, "", ms)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewSpaceRuntime(s, tab)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := NewLUTPredictor(tab)
	for seed := uint64(0); seed < 50; seed++ {
		a := s.RandomSeed(seed)
		exact := true
		for _, c := range a.Choices {
			if !c.Skip && c.Kernel == 3 && c.Expand == 3 {
				exact = false
			}
		}
		f, err := rt.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		l, err := sum.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		if exact && math.Abs(f.Millis-l.Millis) > 1e-9 {
			t.Errorf("%s: formula %v, lut sum %v", a, f.Millis, l.Millis)
		}
		if !exact && math.Abs(f.Millis-l.Millis) > 0.05*l.Millis {
			t.Errorf("%s: formula %v far from lut sum %v", a, f.Millis, l.Millis)
		}
	}
	delete(ms, s.FixedLayers()[0].Key())
	tab2, _ := TableFromMillis("dev", "ref", 1, "", ms)
	if _, err := NewSpaceRuntime(s, tab2); err == nil || !strings.Contains(err.Error(), "conv-input:28x28x1") {
		t.Errorf("missing key error = %v", err)
	}
}
