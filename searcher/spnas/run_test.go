package spnas

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/searcher"
	"edgenas/searcher/internal/searchtest"
)

// A search writes its files (arch.txt parses to the result, at its table
// runtime), and a search cancelled mid-run resumes through the loop to the
// end state of an uninterrupted one: the same result, the same log line for
// line, and the run-directory contract (one candidate, the pick at its table
// runtime, the recipe's seed and target) with a search cost that counts both
// invocations. No file beyond the listed ones is left behind.
func TestRunResumesAfterInterruption(t *testing.T) {
	rt := syntheticRuntime(t, 11)
	cfg := testConfig(rt)
	cfg.Seed = 7
	mk := func() *Searcher {
		s, err := NewSearcher(cfg, rt, searchtest.Set(8, 3))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	straight := t.TempDir()
	want, err := Run(context.Background(), mk(), straight, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ArchFile, LogFile, PlotFile, CheckpointFile, ResultFile, searcher.CandidatesFile} {
		if st, err := os.Stat(filepath.Join(straight, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	wantLog, err := os.ReadFile(filepath.Join(straight, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if logs, err := searcher.ReadLog[StepLog](filepath.Join(straight, LogFile)); err != nil || len(logs) != 6 || logs[5].Step != 5 {
		t.Fatalf("log: %d lines (want 6), %v", len(logs), err)
	}
	b, _ := os.ReadFile(filepath.Join(straight, ArchFile))
	a, err := rt.Space.Parse(strings.TrimSpace(string(b)))
	if err != nil || a.String() != want.Arch {
		t.Fatalf("arch.txt %q does not parse to the result %q: %v", b, want.Arch, err)
	}
	if ex, _ := rt.Exact(a); math.Abs(ex-want.TableMS) > 1e-12 {
		t.Errorf("result table runtime %v, table says %v", want.TableMS, ex)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Run(ctx, mk(), dir, func(l StepLog) {
		if l.Step == 3 { // after the latency loss switched on at step 2
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "search interrupted at step 4 of 6") {
		t.Fatalf("interrupted search: %v", err)
	}
	if _, err := searcher.ReadCandidates(dir); err == nil {
		t.Error("an interrupted search wrote its candidates")
	}
	var resumedAt []int
	got, err := Run(context.Background(), mk(), dir, func(l StepLog) { resumedAt = append(resumedAt, l.Step) })
	if err != nil {
		t.Fatal(err)
	}
	if got != want || len(resumedAt) != 2 || resumedAt[0] != 4 {
		t.Errorf("resumed result %+v after steps %v; uninterrupted %+v", got, resumedAt, want)
	}
	if gotLog, _ := os.ReadFile(filepath.Join(dir, LogFile)); string(gotLog) != string(wantLog) {
		t.Errorf("resumed log differs from the uninterrupted one:\n%s\nvs\n%s", gotLog, wantLog)
	}
	rc, err := searcher.ReadCandidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Method != "spnas" || rc.Space != rt.Space.Name || rc.Seed != 7 || rc.TargetMS != cfg.TargetMS ||
		len(rc.Candidates) != 1 || rc.Candidates[0].Arch != got.Arch || rc.Candidates[0].PredictedMS != got.TableMS || !(rc.SearchSeconds > 0) {
		t.Fatalf("candidates %+v do not match the result %+v", rc, got)
	}
	// A finished search reruns nothing: the same result and search cost.
	if again, err := Run(context.Background(), mk(), dir, nil); err != nil || again != got {
		t.Errorf("rerun of a finished search: %+v, %v", again, err)
	}
	if rc2, err := searcher.ReadCandidates(dir); err != nil || rc2.SearchSeconds != rc.SearchSeconds {
		t.Errorf("rerun changed search_seconds from %v to %v (%v)", rc.SearchSeconds, rc2.SearchSeconds, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ArchFile: true, LogFile: true, PlotFile: true, CheckpointFile: true, ResultFile: true, searcher.CandidatesFile: true}
	for _, e := range ents {
		if !files[e.Name()] {
			t.Errorf("unexpected file %s in the run directory", e.Name())
		}
	}
}
