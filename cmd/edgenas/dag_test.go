package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/tflite"
)

func TestDAGSpaceArch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{name: "table", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "0-1,0-2,1-3"}, code: 0,
			inStdout: "sepconv-input:28x28x16-output:28x28x16-kernel:3-stride:1-act:none"},
		{name: "bad edge", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "0-9"}, code: 2,
			inStderr: "want 0 <= FROM < TO < 8"},
		{name: "nothing live", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "3-4"}, code: 2,
			inStderr: "no edge reachable from node 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
				t.Errorf("code %d stdout %q stderr %q", code, trunc(out), errs)
			}
		})
	}
	code, out, errs := runCLI(t, "space", "arch", "--json", "--space", "autoshrink-fmnist", "full")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var got struct {
		Arch  string `json:"arch"`
		Edges int    `json:"edges"`
		MACs  int64  `json:"macs"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Edges != 28 || strings.Count(got.Arch, ",") != 27 || got.MACs <= 0 {
		t.Errorf("full DAG: %+v", got)
	}
}

func TestDAGModelGen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.tflite")
	code, stdout, errs := runCLI(t, "model", "gen", "--json", "--space", "autoshrink-fmnist", "--arch", "0-1,0-2,1-3,2-3", "-o", out)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var got struct {
		Arch      string `json:"arch"`
		Operators int    `json:"operators"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	m, err := tflite.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != "0-1,0-2,1-3,2-3" || got.Operators != len(m.Operators) || !strings.Contains(m.Description, "autoshrink-fmnist") {
		t.Errorf("wrote %+v, model has %d operators, description %q", got, len(m.Operators), m.Description)
	}
	if code, _, errs := runCLI(t, "model", "gen", "--space", "autoshrink-fmnist", "--arch", "2-3", "-o", out); code != 2 || !strings.Contains(errs, "no edge reachable") {
		t.Errorf("dead topology: code %d, stderr %q", code, errs)
	}
}

// The latency-table workflow on a DAG space through the CLI, with a loose
// protocol: profile every node-op, ADD, pooling and transition key, predict a
// topology, validate with a calibrated fit, predict with the calibration.
func TestDAGLUTWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real microbenchmarks")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "as.db")
	fast := []string{"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.02", "--device", "dev1"}
	code, out, errs := runCLI(t, append([]string{"profile", "--space", "autoshrink-fmnist", "--backend", "xnnpack", "--out", db, "--json"}, fast...)...)
	if code != 0 {
		t.Fatalf("profile: %d %s", code, errs)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	// stem; 3 cell shapes x (2 ops x 2 activations + ADD); 2 pools, 2
	// transitions; global pool, classifier.
	if want := 1.0 + 3*5 + 4 + 2; sum["present"].(float64) != want {
		t.Fatalf("profile summary %v, want %v keys", sum, want)
	}
	arch := "0-1,0-2,1-3,2-3,3-4"
	code, out, errs = runCLI(t, "lut", "predict", "--lut", db, "--space", "autoshrink-fmnist", "--arch", arch, "--json")
	if code != 0 {
		t.Fatalf("predict: %s", errs)
	}
	var pr struct {
		Arch      string             `json:"arch"`
		Predicted map[string]float64 `json:"predicted_ms"`
	}
	if err := json.Unmarshal([]byte(out), &pr); err != nil || len(pr.Predicted) != 1 || pr.Arch != arch {
		t.Fatalf("predict output %s (%v)", out, err)
	}
	vdir := filepath.Join(dir, "val")
	code, out, errs = runCLI(t, "lut", "validate", "--space", "autoshrink-fmnist", "--lut", db, "--models", "4", "--calib", "5",
		"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.05", "--out", vdir)
	if code != 0 {
		t.Fatalf("validate: %d %s", code, errs)
	}
	for _, want := range []string{"lut-sum", "calibrated", "within 5%"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = runCLI(t, "lut", "predict", "--lut", db, "--space", "autoshrink-fmnist", "--arch", arch,
		"--predictor", "calibrated", "--calibration", filepath.Join(vdir, "calibrated.json"))
	if code != 0 || !strings.Contains(out, "calibrated-affine") {
		t.Errorf("calibrated predict: %s %s", out, errs)
	}
}

// `train` and `quantize` on a DAG topology: the fixed recipe (a sliver of
// it), the training directory, and the int8 model from its checkpoint.
func TestDAGTrainQuantize(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a network")
	}
	loadFMNIST(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "train")
	code, stdout, errs := runCLI(t, "train", "--space", "autoshrink-fmnist", "--arch", "0-1,0-2,1-3,2-3", "--epochs", "0.02",
		"--data-frac", "0.1", "--eval-images", "100", "--seed", "2", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("train: %d %s", code, errs)
	}
	var res struct {
		Space  string  `json:"space"`
		Arch   string  `json:"arch"`
		ValAcc float64 `json:"val_accuracy"`
		MACs   int64   `json:"macs"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Space != "autoshrink-fmnist" || res.Arch != "0-1,0-2,1-3,2-3" || !(res.ValAcc > 0) || res.MACs <= 0 {
		t.Errorf("train result %+v", res)
	}
	model := filepath.Join(dir, "m.tflite")
	code, stdout, errs = runCLI(t, "quantize", "--checkpoint", out, "-o", model, "--calib", "8", "--test-images", "50",
		"--ref-test-images", "20", "--json")
	if code != 0 {
		t.Fatalf("quantize: %d %s", code, errs)
	}
	if !strings.Contains(stdout, "0-1,0-2,1-3,2-3") {
		t.Errorf("quantize report does not name the topology: %s", stdout)
	}
	if _, err := tflite.ReadFile(model); err != nil {
		t.Error(err)
	}
	if code, _, errs := runCLI(t, "train", "--space", "autoshrink-fmnist", "--arch", "0-1,1-1", "--out", out); code != 2 || !strings.Contains(errs, "FROM < TO") {
		t.Errorf("bad topology: code %d %s", code, errs)
	}
}

func TestDAGSpaceListShowSample(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{name: "list", args: []string{"space", "list"}, inStdout: "autoshrink-imagenet"},
		{name: "show", args: []string{"space", "show", "--space", "autoshrink-fmnist"}, inStdout: "add-input:7x7x64"},
		{name: "sample", args: []string{"space", "sample", "--space", "autoshrink-fmnist", "--seed", "4"}, inStdout: "0-"},
		{name: "unknown", args: []string{"space", "sample", "--space", "nope"}, code: 2, inStderr: "autoshrink-fmnist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
				t.Errorf("code %d stdout %q stderr %q", code, trunc(out), errs)
			}
		})
	}
}
