package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

// The latency-table workflow end to end through the CLI, on real kernels with
// a loose protocol so it stays fast: profile (interrupted by a key subset,
// then resumed), show, export/import round trip, predict, validate.
func TestLUTWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real microbenchmarks")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "fm.db")
	fast := []string{"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.02", "--device", "dev1"}
	code, out, errs := runCLI(t, append([]string{"profile", "--space", "spnas-fmnist", "--backend", "xnnpack", "--out", db, "--json"}, fast...)...)
	if code != 0 {
		t.Fatalf("profile: %d %s", code, errs)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum["present"].(float64) != 70 || sum["measured_now"].(float64) != 70 {
		t.Fatalf("profile summary %v", sum)
	}
	if !strings.Contains(errs, "profile: 70/70 (100%)") {
		t.Errorf("no progress lines in %q", errs)
	}
	// A rerun resumes: nothing left to measure.
	code, out, _ = runCLI(t, append([]string{"profile", "--space", "spnas-fmnist", "--backend", "xnnpack", "--out", db, "--json"}, fast...)...)
	if code != 0 || !strings.Contains(out, `"measured_now": 0`) {
		t.Errorf("rerun should measure nothing: %s", out)
	}
	code, out, _ = runCLI(t, "lut", "show", "--lut", db)
	if code != 0 || !strings.Contains(out, "70 entries") {
		t.Errorf("lut show: %d %s", code, out)
	}
	csvPath := filepath.Join(dir, "fm.csv")
	if code, _, errs := runCLI(t, "lut", "export", "--lut", db, "--format", "csv", "-o", csvPath); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	db2 := filepath.Join(dir, "copy.db")
	if code, out, errs := runCLI(t, "lut", "import", "--lut", db2, "--format", "csv", csvPath); code != 0 || !strings.Contains(out, "stored 70") {
		t.Fatalf("import: %s %s", out, errs)
	}
	arch := "k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6+se"
	code, out, errs = runCLI(t, "lut", "predict", "--lut", db2, "--space", "spnas-fmnist", "--arch", arch, "--json")
	if code != 0 {
		t.Fatalf("predict: %s", errs)
	}
	var pr struct {
		Predicted map[string]float64 `json:"predicted_ms"`
	}
	if err := json.Unmarshal([]byte(out), &pr); err != nil || len(pr.Predicted) != 2 {
		t.Fatalf("predict output %s (%v)", out, err)
	}
	for name, ms := range pr.Predicted {
		if !(ms > 0) {
			t.Errorf("%s predicted %v", name, ms)
		}
	}
	vdir := filepath.Join(dir, "val")
	code, out, errs = runCLI(t, "lut", "validate", "--space", "spnas-fmnist", "--lut", db, "--models", "4", "--calib", "8",
		"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.1", "--out", vdir)
	if code != 0 {
		t.Fatalf("validate: %d %s", code, errs)
	}
	for _, want := range []string{"lut-sum", "spnas-formula", "calibrated", "within 5%"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"rows.csv", "scatter.png", "calibrated.json", "report.json"} {
		if st, err := os.Stat(filepath.Join(vdir, f)); err != nil || st.Size() == 0 {
			t.Errorf("validate did not write %s: %v", f, err)
		}
	}
	code, out, errs = runCLI(t, "lut", "predict", "--lut", db, "--space", "spnas-fmnist", "--arch", arch,
		"--predictor", "calibrated", "--calibration", filepath.Join(vdir, "calibrated.json"))
	if code != 0 || !strings.Contains(out, "ms") {
		t.Errorf("calibrated predict: %s %s", out, errs)
	}
}

// The Single-Path NAS formula on the published Pixel 1 table, through the CLI.
func TestLUTPredictSPNAS(t *testing.T) {
	path := refdata.Path(t, "spnas_pixel1_runtime_model.json")
	arch := strings.TrimSuffix(strings.Repeat("k5e6,", 20), ",")
	code, out, errs := runCLI(t, "lut", "predict", "--spnas", path, "--fixed-ms", "19.5999", "--space", "spnas-imagenet", "--arch", arch)
	if code != 0 || !strings.Contains(out, "131.46 ms") {
		t.Errorf("predict: code %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCLI(t, "lut", "predict", "--lut", filepath.Join(t.TempDir(), "none.db"), "--space", "spnas-fmnist", "--arch", "random")
	if code != 1 || !strings.Contains(errs, "none.db") {
		t.Errorf("missing store: code %d %s", code, errs)
	}
}
