package spnas

import (
	"math"
	"slices"
	"strings"
	"testing"

	"edgenas/searcher/internal/searchtest"
)

// testConfig is a 6-step search with every phase present: dropout and no
// latency for 2 steps, then latency with dual ascent.
func testConfig(rt *Runtime) Config {
	c := DefaultConfig()
	c.Epochs, c.DataFrac, c.Batch = 6, 1, 8
	c.LatencyEpoch, c.DropoutEpoch = 2, 2
	lo, hi := rt.Range()
	c.TargetMS = (lo + hi) / 2
	c.Eta = 0.5
	return c
}

func TestSearchResumeIsExact(t *testing.T) {
	rt := syntheticRuntime(t, 7)
	set := searchtest.Set(8, 1)
	cfg := testConfig(rt)
	mk := func() *Searcher {
		s, err := NewSearcher(cfg, rt, set)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	steps := func(s *Searcher, n int) []StepLog {
		var ls []StepLog
		for range n {
			l, err := s.TrainStep()
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		return ls
	}
	straight := mk()
	want := steps(straight, 6)
	if want[0].LatencyOn || want[0].Lambda != 0 || !want[5].LatencyOn || want[5].Lambda == 0 {
		t.Errorf("schedule: step 0 latency %v lambda %v, step 5 latency %v lambda %v", want[0].LatencyOn, want[0].Lambda, want[5].LatencyOn, want[5].Lambda)
	}
	a := mk()
	steps(a, 3)
	ck, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := mk()
	if err := b.Restore(ck); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got := steps(b, 3)
	for i, l := range got {
		w := want[3+i]
		if l.Loss != w.Loss || l.Lambda != w.Lambda || l.Arch != w.Arch || !slices.Equal(l.Thresholds, w.Thresholds) {
			t.Errorf("resumed step %d: loss %v lambda %v %s, uninterrupted %v %v %s", l.Step, l.Loss, l.Lambda, l.Arch, w.Loss, w.Lambda, w.Arch)
		}
	}
	// Another recipe must not resume this checkpoint.
	cfg2 := cfg
	cfg2.Seed = 99
	c, _ := NewSearcher(cfg2, rt, set)
	if err := c.Restore(ck); err == nil {
		t.Error("resumed a checkpoint of a different search")
	}
}

func TestSearchMovesThresholdsUnderLatencyPressure(t *testing.T) {
	rt := syntheticRuntime(t, 8)
	cfg := testConfig(rt)
	cfg.TargetMS = 0
	cfg.Lambda = 50 // strong fixed pressure from the first step: every threshold must rise
	cfg.LatencyEpoch, cfg.DropoutEpoch = 0, 0
	s, err := NewSearcher(cfg, rt, searchtest.Set(8, 2))
	if err != nil {
		t.Fatal(err)
	}
	for !s.Done() {
		if _, err := s.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	for i, th := range s.Net.Thresholds() {
		for k, v := range th {
			if s.Net.Blocks[i].Searchable(k) && !(v > 0) {
				t.Errorf("block %d threshold %d = %v, want > 0 after latency-only pressure", i, k, v)
			}
		}
	}
}

func TestRandomWithin(t *testing.T) {
	rt := syntheticRuntime(t, 10)
	lo, hi := rt.Range()
	target := lo + 0.4*(hi-lo)
	cands, err := RandomWithin(rt, target, 0.05, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cands {
		a, err := rt.Space.Parse(c.Arch)
		if err != nil {
			t.Fatal(err)
		}
		ex, _ := rt.Exact(a)
		if ex != c.TableMS || math.Abs(ex-target) > 0.05*target || seen[c.Arch] {
			t.Errorf("candidate %s: %v ms (target %v), duplicate %v", c.Arch, ex, target, seen[c.Arch])
		}
		seen[c.Arch] = true
	}
	for _, bad := range []float64{lo / 2, hi * 2} {
		if _, err := RandomWithin(rt, bad, 0.05, 1, 1); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("target %v outside [%v,%v]: error %v", bad, lo, hi, err)
		}
	}
}
