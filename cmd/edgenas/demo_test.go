package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/lut"
	"edgenas/searcher"
)

// TestDemoEndToEnd runs the whole demo on a tiny budget: broker and agent as
// real subprocesses, the fleet profile over MQTT, search, training,
// quantization, the signed rollout and the report.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a broker and an agent and trains a network")
	}
	out := filepath.Join(t.TempDir(), "demo")
	rep := runDemoReport(t, out, "--search-epochs", "0.08", "--search-data-frac", "0.05",
		"--train-epochs", "0.05", "--calib", "64", "--validate-models", "3", "--fast-profile",
		"--eval-images", "500", "--ref-test-images", "100")
	// The budget is far too small to learn much: check the figures are there.
	if rep.LUT.Entries == 0 || rep.Search.Arch == "" || rep.Train.TestAcc <= 0 || rep.LocalMS <= 0 {
		t.Errorf("report misses figures: %+v", rep)
	}
	for _, a := range []string{"local-1", "local-2"} {
		if rep.AgentState[a] != "committed" || rep.AgentMS[a] <= 0 {
			t.Errorf("rollout: agent %s state %q, latency %v ms", a, rep.AgentState[a], rep.AgentMS[a])
		}
	}
	// The class path: table, calibration, validation and the pick's timing by both agents.
	both := "class local (devices [local-1 local-2])"
	if rep.CalibratedOn != both || rep.ValidatedOn != both {
		t.Errorf("calibrated on %q, validated on %q; want %q", rep.CalibratedOn, rep.ValidatedOn, both)
	}
	if c := rep.Calibration; c == nil || c.Source != lut.SourceFleet || strings.Join(c.Devices, ",") != "local-1,local-2" {
		t.Errorf("calibration provenance %+v", rep.Calibration)
	}
	if fb := rep.FleetBench; fb == nil || len(fb.Models) != 1 || len(fb.Models[0].Devices) != 2 || !(fb.Models[0].ClassMs > 0) {
		t.Errorf("fleet bench of the pick: %+v", rep.FleetBench)
	}
	for _, be := range []string{"xnnpack", "ref"} {
		if v, ok := rep.Quant.Int8Acc[be]; !ok || v <= 0 || v > 1 {
			t.Errorf("int8 accuracy on %s: %v (present %v)", be, v, ok)
		}
	}
	// The report must carry the search's own verdict, not a default.
	var search struct {
		Result struct {
			Within bool `json:"within_tolerance"`
		} `json:"result"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "logs", "search.out")); err != nil || json.Unmarshal(b, &search) != nil {
		t.Fatalf("search output: %v", err)
	}
	if rep.Search.Within != search.Result.Within {
		t.Errorf("report says within target %v, the search said %v", rep.Search.Within, search.Result.Within)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The search ran on the table calibrated right after it, and says so.
	if c := rep.Calibration; c == nil || c.Samples != 12 || c.Form != "affine" || len(rep.CalibCheck) == 0 {
		t.Errorf("calibration %+v, check %+v", rep.Calibration, rep.CalibCheck)
	}
	rc, err := searcher.ReadCandidates(filepath.Join(out, "search"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rc.LatencyModel, "calibrated-affine") || rc.TargetMS != rep.Search.TargetMS {
		t.Errorf("search candidates: latency model %q, target %v (report %v)", rc.LatencyModel, rc.TargetMS, rep.Search.TargetMS)
	}
	for _, want := range []string{rep.Search.Arch, "predicted by the calibrated table", "committed", "progress.png", "calibrate/scatter.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "agent", "models", "demo")); err != nil {
		t.Errorf("no installed model in the agent's store: %v", err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// runDemoReport runs the demo into out with the CLI and returns its report.
func runDemoReport(t *testing.T, out string, args ...string) demoReport {
	t.Helper()
	t.Setenv(beCLI, "1")
	code, stdout, stderr := runCLI(t, append([]string{"demo", "--out", out}, args...)...)
	if code != 0 {
		b, _ := os.ReadFile(filepath.Join(out, "logs", "agent.log"))
		t.Fatalf("demo exited %d\nstdout: %s\nstderr (tail): %s\nagent log: %s", code, stdout, tail(stderr, 3000), tail(string(b), 2000))
	}
	var rep demoReport
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}
