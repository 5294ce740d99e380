package autoshrink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"edgenas/lut"
	"edgenas/searcher"
	"edgenas/searcher/internal/searchtest"
	"edgenas/space"
)

// macsTable is a latency table for the space whose entries grow with each
// layer's MACs: a deterministic stand-in for a profiled device.
func macsTable(t *testing.T, s *space.DAGSpace) *lut.Table {
	t.Helper()
	ms := map[string]float64{}
	for _, l := range s.UniqueKeys() {
		ms[l.Key()] = 0.002 + float64(l.MACs())*1e-7
	}
	tab, err := lut.TableFromMillis("test", "xnnpack", 1, "macs", ms)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func tinyConfig(t *testing.T) Config {
	t.Helper()
	s, err := space.LookupDAG("autoshrink-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	p, err := lut.NewLUTPredictor(macsTable(t, s))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Space, cfg.Latency, cfg.K, cfg.Seed, cfg.Workers = s, p, 2, 7, 2
	cfg.KeepFraction = 25.0 / 28 // three steps
	cfg.Proxy = ProxyConfig{TrainPerClass: 3, ValPerClass: 2, Epochs: 1, Batch: 16, LR: 4e-3, WeightDecay: 1e-5, Patience: 5}
	return cfg
}

// cancelAfter cancels a context once the progress bar reports a kept step.
type cancelAfter struct {
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Contains(string(b), "kept -") {
		c.cancel()
	}
	return len(b), nil
}

// A search killed after its first step resumes to the same snapshots and
// candidates as an uninterrupted one, and writes the run directory.
func TestRunResume(t *testing.T) {
	cfg := tinyConfig(t)
	data := searchtest.Data(200, 60, 10)
	whole := t.TempDir()
	want, err := Run(context.Background(), cfg, data, whole, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Snapshots) != 3 || want.Snapshots[2].Edges > 25 {
		t.Fatalf("snapshots %+v, want 3 steps down to at most 25 edges", want.Snapshots)
	}
	for i, sn := range want.Snapshots {
		if i > 0 && sn.Edges >= want.Snapshots[i-1].Edges {
			t.Errorf("step %d did not shrink: %d edges after %d", i, sn.Edges, want.Snapshots[i-1].Edges)
		}
	}
	rc, err := searcher.ReadCandidates(whole)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Method != "autoshrink" || len(rc.Candidates) != 3 || rc.Candidates[0].Arch != want.Pick.Arch {
		t.Errorf("candidates %+v, pick %+v", rc, want.Pick)
	}
	for _, f := range []string{LogFile, SnapshotsFile, ScorePlotFile, LatencyPlotFile, CheckpointFile} {
		if st, err := os.Stat(filepath.Join(whole, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	killed := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfg, data, killed, &cancelAfter{cancel: cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	got, err := Run(context.Background(), cfg, data, killed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Resumed != 1 {
		t.Errorf("resumed from step %d, want 1", got.Resumed)
	}
	if len(got.Snapshots) != len(want.Snapshots) {
		t.Fatalf("resumed run kept %d snapshots, want %d", len(got.Snapshots), len(want.Snapshots))
	}
	for i := range want.Snapshots {
		if got.Snapshots[i] != want.Snapshots[i] {
			t.Errorf("step %d: resumed %+v, uninterrupted %+v", i, got.Snapshots[i], want.Snapshots[i])
		}
	}
	a, _ := os.ReadFile(filepath.Join(whole, LogFile))
	b, _ := os.ReadFile(filepath.Join(killed, LogFile))
	if strings.Count(string(a), "\n") != strings.Count(string(b), "\n") {
		t.Errorf("logs differ in length:\n%s\n---\n%s", a, b)
	}
}

func TestPickAndRanked(t *testing.T) {
	snaps := []Snapshot{
		{Step: 0, Edges: 27, PredictedMS: 2.0, Score: 0.50},
		{Step: 1, Edges: 26, PredictedMS: 1.5, Score: 0.55},
		{Step: 2, Edges: 20, PredictedMS: 1.0, Score: 0.52},
		{Step: 3, Edges: 18, PredictedMS: 0.8, Score: 0.52},
	}
	tests := []struct {
		name     string
		target   float64
		wantStep int
		met      bool
		order    []int
	}{
		{name: "no target", target: 0, wantStep: 1, met: true, order: []int{1, 3, 2, 0}},
		{name: "tie to fewer edges", target: 1.2, wantStep: 3, met: true, order: []int{3, 2, 1, 0}},
		{name: "unmet", target: 0.5, wantStep: 3, met: false, order: []int{3, 2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := Pick(snaps, tc.target)
			r := Ranked(snaps, tc.target)
			if ok != tc.met || (ok && p.Step != tc.wantStep) || r[0].Step != tc.wantStep {
				t.Errorf("pick %+v %v, ranked first %+v; want step %d met %v", p, ok, r[0], tc.wantStep, tc.met)
			}
			for i, st := range tc.order {
				if r[i].Step != st {
					t.Errorf("rank %d is step %d, want %d", i, r[i].Step, st)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	base := tinyConfig(t)
	tests := []struct {
		name string
		edit func(c *Config)
	}{
		{name: "k zero", edit: func(c *Config) { c.K = 0 }},
		{name: "k too big", edit: func(c *Config) { c.K = 29 }},
		{name: "negative coef", edit: func(c *Config) { c.Coef = -1 }},
		{name: "keep one", edit: func(c *Config) { c.KeepFraction = 1 }},
		{name: "no latency", edit: func(c *Config) { c.Latency = nil }},
		{name: "no epochs", edit: func(c *Config) { c.Proxy.Epochs = 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			if _, err := Run(context.Background(), c, searchtest.Data(50, 20, 5), t.TempDir(), nil); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := NewProxy(searchtest.Data(50, 20, 5), 100, 2, 1); err == nil {
		t.Error("a proxy larger than a class accepted")
	}
}

func TestRandomWithin(t *testing.T) {
	cfg := tinyConfig(t)
	full, err := cfg.Latency.PredictDAG(cfg.Space.Full())
	if err != nil {
		t.Fatal(err)
	}
	target := 0.8 * full.Millis
	got, err := RandomWithin(cfg.Space, cfg.Latency, target, 0.05, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sn := range got {
		if sn.PredictedMS < 0.95*target || sn.PredictedMS > 1.05*target || seen[sn.Arch] {
			t.Errorf("%+v outside 5%% of %.4f ms or repeated", sn, target)
		}
		seen[sn.Arch] = true
	}
	if _, err := RandomWithin(cfg.Space, cfg.Latency, 10*full.Millis, 0.05, 1, 1); err == nil {
		t.Error("an unreachable target gave topologies")
	}
}

func TestStopReason(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.TargetMS = 1.0
	s, err := NewSearch(cfg, &Proxy{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		prev []Snapshot
		snap Snapshot
		stop bool
	}{
		{name: "above target", prev: []Snapshot{{PredictedMS: 0.9, Score: 0.9}}, snap: Snapshot{PredictedMS: 1.1, Score: 0.1}},
		{name: "first under target", prev: []Snapshot{{PredictedMS: 1.2, Score: 0.9}}, snap: Snapshot{PredictedMS: 0.9, Score: 0.5}},
		{name: "score rises", prev: []Snapshot{{PredictedMS: 0.9, Score: 0.5}}, snap: Snapshot{PredictedMS: 0.8, Score: 0.6}},
		{name: "score falls", prev: []Snapshot{{PredictedMS: 0.9, Score: 0.6}}, snap: Snapshot{PredictedMS: 0.8, Score: 0.5}, stop: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.st.Snapshots = append(append([]Snapshot(nil), tc.prev...), tc.snap)
			if got := s.stopReason(tc.snap); (got != "") != tc.stop {
				t.Errorf("stopReason = %q, want stop %v", got, tc.stop)
			}
		})
	}
}

func TestProxyWarning(t *testing.T) {
	tests := []struct {
		name     string
		perClass int
		batch    int
		warn     bool
	}{
		{name: "reference proxy", perClass: 500, batch: 128, warn: false},
		{name: "small proxy at the reference batch", perClass: 150, batch: 128, warn: true},
		{name: "small proxy at batch 32", perClass: 150, batch: 32, warn: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultProxy()
			c.TrainPerClass, c.Batch = tc.perClass, tc.batch
			w := c.Warning()
			if (w != "") != tc.warn {
				t.Fatalf("warning %q, want one: %v", w, tc.warn)
			}
			if tc.warn && !strings.Contains(w, "--batch 75") {
				t.Errorf("warning %q does not name the batch to use", w)
			}
		})
	}
}
