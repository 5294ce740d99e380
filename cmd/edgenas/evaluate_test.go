package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/lut"
	"edgenas/searcher"
	"edgenas/searcher/evaluate"
	"edgenas/searcher/recipe"
	"edgenas/space"
	"edgenas/tflite"
)

const (
	tinyArchA = "k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"
	tinyArchB = "k3e6,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"
	tinyArchC = "k5e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"
)

func TestQuantizeEvaluateUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"quantize", "--help"}, 0, "Example:", ""},
		{[]string{"evaluate", "--help"}, 0, "Example:", ""},
		{[]string{"quantize", "-o", "m.tflite"}, 2, "", "needs --checkpoint"},
		{[]string{"quantize", "--checkpoint", "x", "-o", "m.tflite", "--calib", "0"}, 2, "", "--calib > 0"},
		{[]string{"quantize", "--checkpoint", "x", "-o", "m.tflite", "--workers", "0"}, 2, "", "--workers > 0"},
		{[]string{"quantize", "--checkpoint", "x", "-o", "m.tflite", "--calib-method", "kl"}, 2, "", `"kl": want minmax or percentile`},
		{[]string{"quantize", "--checkpoint", "x", "-o", "m.tflite", "--calib-method", "percentile", "--percentile", "40"}, 2, "", "(50, 100]"},
		{[]string{"quantize", "--checkpoint", "/nonexistent-train", "-o", "m.tflite"}, 1, "", "/nonexistent-train"},
		{[]string{"evaluate", "--runs", "x"}, 2, "", "needs --runs DIR... and --work"},
		{[]string{"evaluate", "--work", "w"}, 2, "", "needs --runs"},
		{[]string{"evaluate", "--work", "w", "--runs", "x", "--seeds", "0"}, 2, "", "--seeds > 0"},
		{[]string{"evaluate", "--work", "w", "--runs", "/nonexistent-run"}, 1, "", "candidates.json: no such file or directory (not a search run directory?)"},
		// evaluate reads only candidates.json runs: no space to assume for others.
		{[]string{"evaluate", "--work", "w", "--space", "spnas-fmnist", "--runs", "x"}, 2, "", "flag provided but not defined: -space"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				tc.args, code, trunc(out), trunc(errs), tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

// loadFMNIST loads the dataset or skips when its Debian package is absent
// (outside CI).
func loadFMNIST(t *testing.T) *fmnist.Data {
	t.Helper()
	d, err := fmnist.LoadDefault()
	if err != nil {
		if _, serr := os.Stat(fmnist.DefaultDir); serr != nil && os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return d
}

// `quantize` restores a trained network exactly (its float accuracy is
// the training's own) and keeps int8 accuracy close on both backends.
func TestQuantizeTrained(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a network")
	}
	d := loadFMNIST(t)
	const nTest = 200
	small := &fmnist.Data{Train: d.Train, Val: d.Val.Slice(0, nTest), Test: d.Test.Slice(0, nTest)}
	a, err := space.MustLookup("spnas-fmnist").Parse(tinyArchA)
	if err != nil {
		t.Fatal(err)
	}
	cfg := recipe.Default()
	cfg.Epochs, cfg.DataFrac, cfg.Seed = 2, 0.04, 1 // 62 steps
	dir := t.TempDir()
	res, err := recipe.Train(context.Background(), cfg, recipe.Chain(a), small, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.TestAcc < 0.4 {
		t.Fatalf("the tiny network did not train: test accuracy %.3f", res.TestAcc)
	}
	model := filepath.Join(t.TempDir(), "m.tflite")
	code, out, errs := runCLI(t, "quantize", "--checkpoint", dir, "--calib", "32", "--test-images", "200", "-o", model, "--json")
	if code != 0 {
		t.Fatalf("quantize: code %d, %s", code, errs)
	}
	var rep quantizeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("quantize --json: %v\n%s", err, out)
	}
	if rep.FloatAcc != res.TestAcc || rep.TestImages != nTest || rep.Arch != tinyArchA {
		t.Errorf("float accuracy %v on %d images (arch %s), the training measured %v on %d", rep.FloatAcc, rep.TestImages, rep.Arch, res.TestAcc, nTest)
	}
	t.Logf("float %.3f, int8 %v on %d test images", rep.FloatAcc, rep.Int8Acc, rep.TestImages)
	for _, be := range quantizeBackends {
		acc, ok := rep.Int8Acc[be]
		if !ok || math.Abs(acc-rep.FloatAcc) > 0.04 || math.Abs(rep.GapPP[be]-100*(acc-rep.FloatAcc)) > 1e-9 {
			t.Errorf("int8 on %s: %v (gap %v pp), float %v: want within 4 pp", be, acc, rep.GapPP[be], rep.FloatAcc)
		}
	}
	m, err := tflite.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if in := m.Input(0); in.Type != tflite.Int8 {
		t.Errorf("model input is %s, want int8", in.Type)
	}
}

// `evaluate` end to end on a tiny recipe: a search run and a random run at
// the same target; then a rerun reuses every training.
func TestEvaluateEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains networks")
	}
	loadFMNIST(t)
	root := t.TempDir()
	sp, rnd := filepath.Join(root, "spnas"), filepath.Join(root, "random")
	for _, rc := range []struct {
		dir string
		c   searcher.RunCandidates
	}{
		{sp, searcher.RunCandidates{Method: "spnas", Space: "spnas-fmnist", TargetMS: 0.2, Seed: 3, SearchSeconds: 42,
			Candidates: []searcher.RunCandidate{{Arch: tinyArchA, PredictedMS: 0.19}}}},
		{rnd, searcher.RunCandidates{Method: "random", Space: "spnas-fmnist", TargetMS: 0.2, Seed: 1, SearchSeconds: 0.01,
			Candidates: []searcher.RunCandidate{{Arch: tinyArchB, PredictedMS: 0.21}, {Arch: tinyArchC, PredictedMS: 0.2}}}},
	} {
		if err := os.MkdirAll(rc.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := searcher.WriteCandidates(rc.dir, rc.c); err != nil {
			t.Fatal(err)
		}
	}
	work, outDir := filepath.Join(root, "work"), filepath.Join(root, "eval")
	args := []string{"evaluate", "--runs", sp, rnd, "--work", work, "--epochs", "0.02", "--data-frac", "0.1",
		"--test-images", "200", "--calib", "8", "--max-secs", "0.3", "--out", outDir}
	code, out, errs := runCLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("evaluate: code %d\n%s", code, errs)
	}
	var rep evaluate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("evaluate --json: %v\n%s", err, out)
	}
	if len(rep.Trainings) != 3 || len(rep.Groups) != 2 {
		t.Fatalf("%d trainings in %d groups, want 3 in 2", len(rep.Trainings), len(rep.Groups))
	}
	wantSeed := map[string]uint64{tinyArchA: 3, tinyArchB: 1, tinyArchC: 1}
	for _, tr := range rep.Trainings {
		if tr.Seed != wantSeed[tr.Arch] || !(tr.MeasuredMS > 0) || !(tr.FloatAcc > 0) || !(tr.Int8Acc > 0) || tr.Cached {
			t.Errorf("training %+v", tr)
		}
		if _, err := os.Stat(tr.Model); err != nil {
			t.Errorf("int8 model: %v", err)
		}
		// Three rounds by default; the figure is their median.
		if r := tr.MeasuredRoundsMS; len(r) != 3 || tr.MeasuredMS < min(r[0], r[1], r[2]) || tr.MeasuredMS > max(r[0], r[1], r[2]) {
			t.Errorf("%s: measured %v ms from rounds %v", tr.Arch, tr.MeasuredMS, r)
		}
	}
	g := rep.Groups[1]
	if g.Method != "spnas" || g.RIFloat == nil || g.SearchSeconds != 42 || g.RIInt8CI == nil || g.RIInt8CI.Excludes(*g.RIInt8) {
		t.Errorf("spnas group %+v", g)
	}
	for _, f := range []string{evaluate.ResultsJSON, evaluate.ResultsCSV, evaluate.SummaryCSV, evaluate.AccLatencyPNG, evaluate.RIPNG, evaluate.PredMeasPNG} {
		if st, err := os.Stat(filepath.Join(outDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", f, err)
		}
	}
	if !strings.Contains(errs, "ETA") {
		t.Errorf("no progress with ETA on stderr:\n%s", errs)
	}
	ckpt := filepath.Join(rep.Trainings[0].Dir, recipe.CheckpointFile)
	before, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, args...)
	if code != 0 || !strings.Contains(errs, "3 trainings, 3 cached") || !strings.Contains(out, "RI FLOAT [95% CI]") || !strings.Contains(out, "bootstrap 95%") || !strings.Contains(errs, "measuring 3 int8 models") {
		t.Fatalf("rerun: code %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if after, err := os.Stat(ckpt); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("rerun touched the cached checkpoint %s (%v)", ckpt, err)
	}
}

// `search random --out` writes the run-directory contract evaluate reads:
// K candidates within the tolerance, each at its table latency.
func TestSearchRandomOut(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	db, rt := syntheticLUT(t, s)
	lo, hi := rt.Range()
	target := lo + 0.4*(hi-lo)
	dir := filepath.Join(t.TempDir(), "random")
	code, _, errs := runCLI(t, "search", "random", "--lut", db, "--target-ms", strconv.FormatFloat(target, 'g', -1, 64),
		"--count", "4", "--seed", "9", "--out", dir)
	if code != 0 {
		t.Fatalf("search random: code %d, %s", code, errs)
	}
	rc, err := searcher.ReadCandidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Method != "random" || rc.Space != s.Name || rc.Seed != 9 || rc.TargetMS != target || len(rc.Candidates) != 4 {
		t.Fatalf("candidates.json %+v", rc)
	}
	for _, c := range rc.Candidates {
		a, err := s.Parse(c.Arch)
		if err != nil {
			t.Fatal(err)
		}
		if ms, _ := rt.Exact(a); math.Abs(ms-c.PredictedMS) > 1e-12 || math.Abs(ms-target) > 0.05*target {
			t.Errorf("%s: predicted %v, table %v, target %v", c.Arch, c.PredictedMS, ms, target)
		}
	}
}

// With --calibration the random baseline's band is in calibrated
// (measured-latency) milliseconds: each candidate's recorded prediction is
// the calibrated predictor's, within the tolerance of the target, and the
// run records which latency model it used. A calibration fitted on another
// table is refused by name.
func TestSearchRandomCalibrated(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	db, rt := syntheticLUT(t, s)
	st, err := lut.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := st.View("synthetic", "xnnpack", 1)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := lut.NewCalibrated(tab, lut.FormAffine)
	if err != nil {
		t.Fatal(err)
	}
	cal.Coef, cal.Samples = []float64{1.3, 0.002, 0.01}, 16
	calPath := filepath.Join(t.TempDir(), "calibrated.json")
	if err := atomicfile.Write(calPath, cal.WriteJSON); err != nil {
		t.Fatal(err)
	}
	lo, hi := rt.Range()
	target := 1.3 * (lo + 0.4*(hi-lo))
	dir := filepath.Join(t.TempDir(), "random-cal")
	code, _, errs := runCLI(t, "search", "random", "--lut", db, "--calibration", calPath,
		"--target-ms", strconv.FormatFloat(target, 'g', -1, 64), "--count", "4", "--seed", "3", "--out", dir)
	if code != 0 {
		t.Fatalf("search random --calibration: code %d, %s", code, errs)
	}
	rc, err := searcher.ReadCandidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rc.LatencyModel, "calibrated-affine") || len(rc.Candidates) != 4 {
		t.Fatalf("candidates.json %+v", rc)
	}
	for _, c := range rc.Candidates {
		a, err := s.Parse(c.Arch)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cal.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.Millis-c.PredictedMS) > 1e-9 || math.Abs(p.Millis-target) > 0.05*target {
			t.Errorf("%s: recorded %v ms, calibrated predictor %v ms, target %v", c.Arch, c.PredictedMS, p.Millis, target)
		}
	}

	other, err := lut.TableFromMillis("elsewhere", "xnnpack", 1, "", map[string]float64{"k": 1})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := lut.NewCalibrated(other, lut.FormScale)
	wrong.Coef = []float64{1, 0}
	wrongPath := filepath.Join(t.TempDir(), "wrong.json")
	if err := atomicfile.Write(wrongPath, wrong.WriteJSON); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, "search", "random", "--lut", db, "--calibration", wrongPath, "--target-ms", "1", "--count", "1")
	if code != 1 || !strings.Contains(errs, "wrong.json") || !strings.Contains(errs, "elsewhere") {
		t.Errorf("calibration of another device: code %d, stderr %q", code, errs)
	}
}
