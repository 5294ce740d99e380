package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"edgenas/searcher"
	"edgenas/searcher/evaluate"
)

// cancelOnStep cancels a command's context once its progress reports a kept
// step: a kill between steps.
type cancelOnStep struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnStep) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(b)
	if strings.Contains(c.buf.String(), "kept -") {
		c.cancel()
	}
	return len(b), nil
}

// profileDAGTable measures the autoshrink-fmnist keys with a loose protocol.
func profileDAGTable(t *testing.T, dir string) string {
	t.Helper()
	db := filepath.Join(dir, "as.db")
	code, _, errs := runCLI(t, "profile", "--space", "autoshrink-fmnist", "--backend", "xnnpack", "--out", db,
		"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.02", "--device", "dev1")
	if code != 0 {
		t.Fatalf("profile: %d %s", code, errs)
	}
	return db
}

// The tiny AutoShrink run of CI: a real table, the real dataset, a proxy of
// a few images, one epoch, k=2, three steps; killed after its first step,
// resumed, and its candidates.json read back; then the equal-latency random
// baseline for the same table.
func TestSearchAutoShrinkTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles a table and trains networks")
	}
	loadFMNIST(t)
	dir := t.TempDir()
	db := profileDAGTable(t, dir)
	// The target is the complete DAG's latency: every snapshot meets it.
	code, stdout, errs := runCLI(t, "lut", "predict", "--lut", db, "--space", "autoshrink-fmnist", "--arch", "full", "--json")
	if code != 0 {
		t.Fatalf("predict: %s", errs)
	}
	var pr struct {
		Predicted map[string]float64 `json:"predicted_ms"`
	}
	if err := json.Unmarshal([]byte(stdout), &pr); err != nil || len(pr.Predicted) != 1 {
		t.Fatalf("predict output %s (%v)", stdout, err)
	}
	var target string
	for _, ms := range pr.Predicted {
		target = strconv.FormatFloat(ms, 'g', 6, 64)
	}
	run := filepath.Join(dir, "run")
	args := []string{"search", "autoshrink", "--lut", db, "--target-ms", target, "--k", "2", "--epochs", "1", "--train-per-class", "4",
		"--val-per-class", "2", "--batch", "20", "--keep", "0.9", "--seed", "3", "--out", run}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	killer := &cancelOnStep{cancel: cancel}
	if code := execute(ctx, &env{stdout: &out, stderr: killer}, args); code == 0 {
		t.Fatalf("the interrupted search exited 0: %s", killer.buf.String())
	}
	code, stdout, errs = runCLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("resume: %d %s", code, errs)
	}
	var res struct {
		Snapshots []struct {
			Edges int `json:"edges"`
		} `json:"snapshots"`
		Resumed int `json:"resumed_from"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	// Three steps at most; a removal that kills a node prunes its edges
	// too, so the 25-edge budget may be reached sooner.
	n := len(res.Snapshots)
	if res.Resumed != 1 || n < 2 || n > 3 || (n < 3 && res.Snapshots[n-1].Edges > 25) {
		t.Errorf("resumed from %d with snapshots %+v, want 1 and 2-3 steps down to 25 edges", res.Resumed, res.Snapshots)
	}
	rc, err := searcher.ReadCandidates(run)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Method != "autoshrink" || rc.Space != "autoshrink-fmnist" || len(rc.Candidates) != n {
		t.Errorf("candidates.json %+v", rc)
	}
	rnd := filepath.Join(dir, "random")
	code, _, errs = runCLI(t, "search", "random", "--space", "autoshrink-fmnist", "--lut", db, "--target-ms", target,
		"--count", "2", "--tol", "0.05", "--out", rnd)
	if code != 0 {
		t.Fatalf("search random: %d %s", code, errs)
	}
	rr, err := searcher.ReadCandidates(rnd)
	if err != nil || rr.Method != "random" || len(rr.Candidates) != 2 {
		t.Fatalf("random run %+v %v", rr, err)
	}
	// evaluate accepts both runs: trains the pick and the random
	// topologies with the fixed recipe, quantizes, times, compares.
	code, out2, errs := runCLI(t, "evaluate", "--runs", run, rnd, "--picks-only", "--work", filepath.Join(dir, "work"),
		"--epochs", "0.02", "--data-frac", "0.1", "--test-images", "100", "--calib", "8", "--max-secs", "0.2",
		"--rounds", "1", "--out", filepath.Join(dir, "eval"), "--json")
	if code != 0 {
		t.Fatalf("evaluate: %d %s", code, errs)
	}
	var rep evaluate.Report
	if err := json.Unmarshal([]byte(out2), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Trainings) != 3 || len(rep.Groups) != 2 {
		t.Fatalf("%d trainings in %d groups, want 3 in 2", len(rep.Trainings), len(rep.Groups))
	}
	for _, tr := range rep.Trainings {
		if !(tr.MeasuredMS > 0) || !(tr.FloatAcc > 0) || !(tr.Int8Acc > 0) {
			t.Errorf("training %+v", tr)
		}
	}
	var found bool
	for _, g := range rep.Groups {
		if g.Method == "autoshrink" {
			found = g.RIFloat != nil
		}
	}
	if !found {
		t.Errorf("no autoshrink group with an RI against random: %+v", rep.Groups)
	}
}

// The demo's whole loop with --method autoshrink on a tiny budget: fleet
// profile of the DAG space over MQTT, calibration, AutoShrink at the middle
// of the space's range, training, quantization, rollout, report.
func TestDemoAutoShrink(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a broker and an agent and trains networks")
	}
	loadFMNIST(t)
	out := filepath.Join(t.TempDir(), "demo")
	rep := runDemoReport(t, out, "--method", "autoshrink", "--autoshrink-k", "2", "--autoshrink-per-class", "4",
		"--autoshrink-epochs", "1", "--autoshrink-keep", "0.9", "--train-epochs", "0.05", "--calib", "64",
		"--validate-models", "3", "--fast-profile", "--eval-images", "300", "--ref-test-images", "50")
	if rep.Method != "autoshrink" || rep.LUT.Entries != 22*len(rep.Agents) || rep.Search.Arch == "" || rep.Search.Steps == 0 ||
		rep.Train.TestAcc <= 0 || rep.LocalMS <= 0 || len(rep.AgentState) != len(rep.Agents) || len(rep.Agents) == 0 {
		t.Errorf("report misses figures: %+v", rep)
	}
	for agent, state := range rep.AgentState {
		if state != "committed" {
			t.Errorf("agent %s: install %s, want committed", agent, state)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "AutoShrink on `autoshrink-fmnist`") || strings.Contains(string(md), "Single-Path formula") {
		t.Errorf("report.md does not describe the AutoShrink run (%v):\n%s", err, md)
	}
}
