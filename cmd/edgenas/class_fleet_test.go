package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/fleet/fleettest"
	"edgenas/lut"
	"edgenas/searcher/evaluate"
)

// startClassAgents runs two in-process agents of class phones measuring
// with the real ref backend, on an embedded broker.
func startClassAgents(t *testing.T) (broker string) {
	t.Helper()
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	for _, id := range []string{"ph1", "ph2"} {
		fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: id, Class: "phones", Password: fleettest.AgentPassword,
			DataDir: filepath.Join(dir, id), Backend: "ref", Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond,
			Version: "test"})
	}
	return b.URL()
}

// The class path through the CLI with two agents: fleet profile with two
// replicas, lut show/predict on the class table, lut validate with the
// models timed by the agents (the calibration names them), search on the
// class table with that calibration, and a host calibration refused.
func TestClassPathOverFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("measures on two agents")
	}
	url := startClassAgents(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "phones.db")
	host := []string{"--broker", url, "--user", fleettest.Host.Name, "--password", fleettest.Host.Password}
	code, out, errs := runCLI(t, append([]string{"fleet", "profile", "--space", "spnas-fmnist", "--class", "phones", "--out", db,
		"--replicas", "2", "--chunk", "8", "--fast", "--timeout", "120s"}, host...)...)
	if code != 0 {
		t.Fatalf("fleet profile: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, "lut", "show", "--lut", db, "--class", "phones", "--backend", "ref", "--min-devices", "2")
	if code != 0 || !strings.Contains(out, "class phones") || !strings.Contains(out, "2 devices [ph1 ph2]") ||
		!strings.Contains(out, "70 entries") || !strings.Contains(out, "spread between devices over 70 keys") {
		t.Fatalf("lut show --class: %d\n%s%s", code, out, errs)
	}
	t.Log(out)
	code, out, errs = runCLI(t, "lut", "predict", "--lut", db, "--class", "phones", "--backend", "ref", "--space", "spnas-fmnist",
		"--arch", "random", "--seed", "3")
	if code != 0 || !strings.Contains(out, "ms") {
		t.Fatalf("lut predict --class: %d %s %s", code, out, errs)
	}
	val := filepath.Join(dir, "val")
	code, out, errs = runCLI(t, append([]string{"lut", "validate", "--lut", db, "--class", "phones", "--backend", "ref",
		"--space", "spnas-fmnist", "--models", "4", "--calib", "5", "--rel-tol", "0.1", "--min-secs", "0", "--max-secs", "0.1",
		"--out", val, "--timeout", "120s"}, host...)...)
	if code != 0 || !strings.Contains(out, "measured on class phones (devices [ph1 ph2])") {
		t.Fatalf("lut validate --broker: %d\n%s%s", code, out, errs)
	}
	var cal lut.Calibrated
	b, err := os.ReadFile(filepath.Join(val, "calibrated.json"))
	if err != nil || json.Unmarshal(b, &cal) != nil {
		t.Fatalf("calibrated.json: %v %s", err, b)
	}
	if cal.Source != lut.SourceFleet || cal.Class != "phones" || strings.Join(cal.Devices, ",") != "ph1,ph2" {
		t.Fatalf("calibration measured on %q class %q devices %v; want the two agents", cal.Source, cal.Class, cal.Devices)
	}
	// The search runs on the class table. (Whether the fleet calibration
	// fits it depends on how quiet the machine was: a busy minute can leave
	// one agent's key far off, and a fit on that table is refused by its
	// bounds, as it should be; the demo test searches with one.)
	code, out, errs = runCLI(t, "search", "random", "--lut", db, "--class", "phones", "--backend", "ref",
		"--target-ms", "5", "--tol", "10", "--count", "2", "--json")
	if code != 0 {
		t.Fatalf("search random --class: %d %s %s", code, out, errs)
	}
	// A calibration timed on this host does not correct the class table.
	hostVal := filepath.Join(dir, "hostval")
	code, _, errs = runCLI(t, "lut", "validate", "--lut", db, "--class", "phones", "--backend", "ref", "--space", "spnas-fmnist",
		"--models", "2", "--calib", "4", "--rel-tol", "0.2", "--min-secs", "0", "--max-secs", "0.05", "--out", hostVal)
	if code != 0 || !strings.Contains(errs, "timing the whole models on this host") {
		t.Fatalf("lut validate --class on the host: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, "search", "spnas", "--lut", db, "--class", "phones", "--backend", "ref", "--calibration",
		filepath.Join(hostVal, "calibrated.json"), "--target-ms", "5", "--out", filepath.Join(dir, "sp"))
	if code == 0 || !strings.Contains(errs, "measured on host") || !strings.Contains(errs, "lut validate --class phones --broker") {
		t.Fatalf("search spnas --class with a host calibration: %d %s", code, errs)
	}
}

// evaluate --class --broker: the int8 models of a run searched on a class
// table are timed by the two agents, in the same rounds and groups, and the
// report says so.
func TestEvaluateOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("trains networks")
	}
	loadFMNIST(t)
	url := startClassAgents(t)
	root := t.TempDir()
	// A run directory as search writes it, from a class table.
	db := classStore(t, "phones", []string{"ph1", "ph2"}, 0.05, 0)
	run := filepath.Join(root, "random")
	if code, out, errs := runCLI(t, "search", "random", "--lut", db, "--class", "phones", "--backend", "xnnpack", "--target-ms", "1",
		"--tol", "10", "--count", "2", "--seed", "4", "--out", run); code != 0 {
		t.Fatalf("search random --class: %d %s %s", code, out, errs)
	}
	code, out, errs := runCLI(t, "evaluate", "--runs", run, "--work", filepath.Join(root, "work"), "--epochs", "0.02",
		"--data-frac", "0.05", "--test-images", "100", "--calib", "8", "--max-secs", "0.1", "--rounds", "2",
		"--class", "phones", "--broker", url, "--user", fleettest.Host.Name, "--password", fleettest.Host.Password, "--json")
	if code != 0 {
		t.Fatalf("evaluate --class --broker: %d\n%s", code, errs)
	}
	var rep evaluate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.MeasuredOn != "class phones (devices [ph1 ph2])" {
		t.Errorf("measured on %q, want the two agents", rep.MeasuredOn)
	}
	for _, tr := range rep.Trainings {
		if len(tr.MeasuredRoundsMS) != 2 || !(tr.MeasuredMS > 0) {
			t.Errorf("%s: measured %v ms from rounds %v", tr.Arch, tr.MeasuredMS, tr.MeasuredRoundsMS)
		}
	}
	code, _, errs = runCLI(t, "evaluate", "--runs", run, "--work", filepath.Join(root, "work"), "--class", "phones")
	if code != 2 || !strings.Contains(errs, "go together") {
		t.Errorf("--class without --broker: %d %s", code, errs)
	}
}
