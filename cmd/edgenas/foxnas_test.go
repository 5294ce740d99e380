package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/searcher"
	"edgenas/searcher/foxnas"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

// syntheticLUT writes a store with one device whose entries for every key
// of s cost 5 us plus 1 ns per MAC, and returns the store path and the
// runtime model the command will build from it.
func syntheticLUT(t *testing.T, s *space.Space) (string, *spnas.Runtime) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lut.db")
	st, err := lut.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms := map[string]float64{}
	var es []lut.Entry
	for _, l := range s.UniqueKeys() {
		us := 5 + float64(l.MACs())*1e-3
		ms[l.Key()] = us / 1000
		es = append(es, lut.Entry{Device: "synthetic", Backend: "xnnpack", Threads: 1, Key: l.Key(),
			Stats: profiler.Stats{Count: 1, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us}})
	}
	if err := st.Put(es...); err != nil {
		t.Fatal(err)
	}
	tab, err := lut.TableFromMillis("synthetic", "xnnpack", 1, "", ms)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := lut.NewSpaceRuntime(s, tab)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := spnas.NewRuntime(sr)
	if err != nil {
		t.Fatal(err)
	}
	return path, rt
}

// The FOX-NAS search end to end on a tiny budget: supernet training,
// sub-network evaluation, both predictors, annealing, every output file;
// then a second target reusing the supernet and its samples.
func TestSearchFoxNASEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a (tiny) supernet on Fashion-MNIST")
	}
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Skip("Fashion-MNIST not installed (dataset-fashion-mnist)")
	}
	s := space.MustLookup("spnas-fmnist")
	db, rt := syntheticLUT(t, s)
	lo, hi := rt.Range()
	target := math.Round((lo+0.5*(hi-lo))*1000) / 1000
	dir := t.TempDir()
	sn := filepath.Join(dir, "supernet")
	tiny := []string{"--lut", db, "--seed", "2", "--supernet", sn, "--epochs", "1", "--data-frac", "0.0005", "--batch", "4",
		"--samples", "35", "--folds", "0", "--subnet-val", "8", "--calib-batches", "1", "--lat-samples", "300",
		"--anneal-steps", "300", "--restarts", "2", "--top-k", "5"}
	out1 := filepath.Join(dir, "run1")
	code, stdout, stderr := runCLI(t, append([]string{"search", "foxnas", "--space", "spnas-fmnist", "--target-ms", fmt.Sprint(target), "--out", out1}, tiny...)...)
	if code != 0 {
		t.Fatalf("search foxnas: %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"supernet " + sn, "sub-networks", "anneal", "ETA"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	for _, want := range []string{"spnas-fmnist-accuracy", "spnas-fmnist-latency", "STD ERR", "per extra block", "supernet trained now",
		"supernet trained on training images 0-59991 (30 per epoch), sub-networks scored on held-out images 59992-59999"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	cand, err := searcher.ReadCandidates(out1)
	if err != nil {
		t.Fatal(err)
	}
	if cand.Method != "foxnas" || cand.Space != "spnas-fmnist" || cand.TargetMS != target || cand.Seed != 2 || !(cand.SearchSeconds > 0) || len(cand.Candidates) == 0 {
		t.Fatalf("candidates.json %+v", cand)
	}
	for _, c := range cand.Candidates {
		a, err := s.Parse(c.Arch)
		if err != nil {
			t.Fatalf("candidate %s: %v", c.Arch, err)
		}
		if ms, _ := rt.Exact(a); math.Abs(ms-c.PredictedMS) > 1e-9 {
			t.Errorf("candidate %s predicted_ms %v, table sum %v", c.Arch, c.PredictedMS, ms)
		}
	}
	var raw map[string]any
	readJSON(t, filepath.Join(out1, "candidates.json"), &raw)
	if len(raw) != 7 || raw["latency_model"] != "lut-sum" {
		t.Errorf("candidates.json has fields %v, want exactly method, space, target_ms, seed, search_seconds, latency_model (lut-sum), candidates", raw)
	}
	arch, _ := os.ReadFile(filepath.Join(out1, "arch.txt"))
	if strings.TrimSpace(string(arch)) != cand.Candidates[0].Arch {
		t.Errorf("arch.txt %q, first candidate %q", arch, cand.Candidates[0].Arch)
	}
	models, err := foxnas.LoadModels(filepath.Join(out1, "predictors.json"))
	if err != nil || len(models) != 2 || models[1].N != 35 || models[0].N != 300 {
		t.Fatalf("predictors.json: %v %+v", err, models)
	}
	samples, _ := os.ReadFile(filepath.Join(out1, "samples.csv"))
	if n := strings.Count(string(samples), "\n"); n != 36 {
		t.Errorf("samples.csv has %d lines, want header + 35", n)
	}
	for _, f := range []string{"anneal.jsonl", "search.png", "result.json", "predictors.txt", "supernet/supernet.ckpt", "supernet/supernet.json"} {
		p := filepath.Join(out1, f)
		if f[:8] == "supernet" {
			p = filepath.Join(sn, f[9:])
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	var rep1 foxnas.SearchReport
	readJSON(t, filepath.Join(out1, "result.json"), &rep1)
	// 8 images held out: the supernet trains on 0.05% of the other 59,992.
	if !rep1.TrainedNow || !rep1.SampledNow || rep1.Supernet.Steps != 7 || rep1.Supernet.Images != 30 || !(rep1.Supernet.TrainSeconds > 0) {
		t.Errorf("first run report: %+v", rep1)
	}
	if want := (fmnist.Split{TrainCount: 59992, ValFirst: 59992, ValCount: 8}); rep1.SubnetSplit != want {
		t.Errorf("result.json records the split %+v, want %+v", rep1.SubnetSplit, want)
	}

	// A second target reuses the supernet and the evaluated samples.
	target2 := math.Round((lo+0.35*(hi-lo))*1000) / 1000
	out2 := filepath.Join(dir, "run2")
	code, stdout, stderr = runCLI(t, append([]string{"search", "foxnas", "--target-ms", fmt.Sprint(target2), "--out", out2, "--json"}, tiny...)...)
	if code != 0 {
		t.Fatalf("second search: %d\n%s", code, stderr)
	}
	var rep2 foxnas.SearchReport
	if err := json.Unmarshal([]byte(stdout), &rep2); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if rep2.TrainedNow || rep2.SampledNow || rep2.TrainSeconds != 0 || rep2.Supernet.TrainSeconds != rep1.Supernet.TrainSeconds {
		t.Errorf("second run should reuse the supernet and samples: %+v", rep2)
	}
	if rep2.SearchSeconds >= rep1.SearchSeconds {
		t.Errorf("reusing run took %.1f s, first %.1f s", rep2.SearchSeconds, rep1.SearchSeconds)
	}
	if d := rep2.Picks[0].PredictedMS/target2 - 1; math.Abs(d) > 0.05+1e-9 {
		t.Errorf("second pick predictor latency %.4f outside 5%% of %.4f", rep2.Picks[0].PredictedMS, target2)
	}

	// Bad input: a target outside the table's range, too few samples.
	code, _, stderr = runCLI(t, append([]string{"search", "foxnas", "--target-ms", fmt.Sprint(hi * 2), "--out", filepath.Join(dir, "bad")}, tiny...)...)
	if code != 1 || !strings.Contains(stderr, "outside spnas-fmnist's table range") {
		t.Errorf("out-of-range target: %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, append(append([]string{"search", "foxnas", "--target-ms", fmt.Sprint(target), "--out", filepath.Join(dir, "bad")}, tiny...), "--samples", "20")...)
	if code != 1 || !strings.Contains(stderr, "too few for the 32-term accuracy predictor") {
		t.Errorf("too few samples: %d %s", code, stderr)
	}
}

func TestSearchFoxNASUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"search", "foxnas", "--help"}, 0, "Example:", ""},
		{[]string{"search", "foxnas", "--target-ms", "1"}, 2, "", "needs --out"},
		{[]string{"search", "foxnas", "--out", "x"}, 2, "", "needs --target-ms"},
		{[]string{"search", "foxnas", "--out", "x", "--target-ms", "1", "--tol", "0"}, 2, "", "--tol 0"},
		{[]string{"search", "foxnas", "--out", "x", "--target-ms", "1", "--restarts", "0"}, 2, "", "must be positive"},
		{[]string{"search", "foxnas", "--out", "x", "--target-ms", "1", "--subnet-val", "0"}, 2, "", "--subnet-val 0: want 1 to 59999"},
		{[]string{"search", "foxnas", "--out", "x", "--target-ms", "1", "--subnet-val", "60000"}, 2, "", "--subnet-val 60000"},
		{[]string{"search", "foxnas", "--out", "x", "--target-ms", "1", "--lut", "/nonexistent.db"}, 1, "", "nonexistent.db"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				tc.args, code, out, errs, tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
