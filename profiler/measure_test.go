package profiler

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestStopRule(t *testing.T) {
	p := Protocol{MinRuns: 10, MinSecs: 0.001, MaxSecs: 1, RelTol: 0.01, Level: 0.95}
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name         string
		sample       func(i int) float64
		spent        time.Duration
		wantDone     bool
		wantUnstable bool
		minN         int
	}{
		{"constant stops at MinRuns", func(int) float64 { return 100 }, 2 * time.Millisecond, true, false, 10},
		{"tight noise stops", func(int) float64 { return 100 + rng.NormFloat64()*0.5 }, 2 * time.Millisecond, true, false, 10},
		{"wide noise continues", func(int) float64 { return 100 + rng.NormFloat64()*30 }, 2 * time.Millisecond, false, false, 0},
		{"wide noise at MaxSecs is unstable", func(int) float64 { return 100 + rng.NormFloat64()*30 }, 2 * time.Second, true, true, 0},
		{"min time not reached", func(int) float64 { return 100 }, 0, false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &state{batch: 1, spent: tc.spent}
			done := false
			for i := 0; i < 40 && !done; i++ {
				s.samples = append(s.samples, tc.sample(i))
				done = s.check(p)
			}
			if done != tc.wantDone {
				t.Fatalf("done = %v after %d samples, want %v", done, len(s.samples), tc.wantDone)
			}
			if done && s.res.Unstable != tc.wantUnstable {
				t.Errorf("unstable = %v, want %v", s.res.Unstable, tc.wantUnstable)
			}
			if done && tc.minN > 0 && len(s.samples) != tc.minN {
				t.Errorf("stopped after %d samples, want %d", len(s.samples), tc.minN)
			}
		})
	}
}

func spin(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

func TestMeasureInterleavesAndOrders(t *testing.T) {
	var log []string
	cands := []Candidate{
		{"slow", func() error { log = append(log, "slow"); spin(300 * time.Microsecond); return nil }},
		{"fast", func() error { log = append(log, "fast"); spin(50 * time.Microsecond); return nil }},
		{"mid", func() error { log = append(log, "mid"); spin(120 * time.Microsecond); return nil }},
	}
	p := DefaultProtocol()
	p.MinRuns, p.MinSecs, p.MaxSecs, p.RelTol, p.MinSampleMicros, p.WarmupSecs = 20, 0, 2, 0.05, 0, 0
	res, err := Measure(context.Background(), cands, p, "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range res {
		got[r.Name] = r.Stats.P50
		if r.Stats.Count < 20 {
			t.Errorf("%s: %d samples, want >= 20", r.Name, r.Stats.Count)
		}
	}
	if !(got["fast"] < got["mid"] && got["mid"] < got["slow"]) {
		t.Errorf("medians out of order: %v", got)
	}
	// Interleaving: the timed phase must not run one candidate's samples back to
	// back for long, and the order must vary between rounds.
	// Each of the first 20 rounds after the 3x5 warm-ups runs every candidate once.
	firsts := map[string]bool{}
	for i := p.WarmupRuns * 3; i < p.WarmupRuns*3+20*3; i += 3 {
		round := map[string]bool{log[i]: true, log[i+1]: true, log[i+2]: true}
		if len(round) != 3 {
			t.Fatalf("round at %d is not a permutation: %v", i, log[i:i+3])
		}
		firsts[log[i]] = true
	}
	if len(firsts) < 2 {
		t.Errorf("round order never changed: %v", firsts)
	}
}

func TestMeasureErrors(t *testing.T) {
	boom := errors.New("kernel failed")
	_, err := Measure(context.Background(), []Candidate{{"bad", func() error { return boom }}}, DefaultProtocol(), "t", 1)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "bad") {
		t.Errorf("err = %v, want wrapped kernel error naming the candidate", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, []Candidate{{"x", func() error { return nil }}}, DefaultProtocol(), "t", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	p := DefaultProtocol()
	p.MinRuns = 2
	if _, err := Measure(context.Background(), nil, p, "t", 1); err == nil {
		t.Errorf("bad protocol accepted")
	}
}

func TestBatchingShortCandidates(t *testing.T) {
	n := 0
	p := DefaultProtocol()
	p.MaxSecs = 1
	res, err := Measure(context.Background(), []Candidate{{"tiny", func() error { n++; return nil }}}, p, "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Batch < 10 {
		t.Errorf("batch %d for a no-op candidate, want many invocations per sample", res[0].Batch)
	}
	if res[0].Conditions.NumCPU < 1 || res[0].Conditions.Backend != "t" {
		t.Errorf("conditions not recorded: %+v", res[0].Conditions)
	}
}
