package main

import (
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/internal/refdata"
	"edgenas/internal/signing"
	"edgenas/profiler/benchmodel"
	"edgenas/profiler/benchmodel/replaytest"
)

// TestDeployModelHostCannotRun deploys keyword_scrambled (SVDF) with the
// CLI: --check output fails at the host naming SVDF; by default the host
// says it cannot compute the expected output, names the operators and signs
// a timing-only check, which a ref agent refuses naming SVDF (nothing
// installed) and an agent timing with benchmark_model (the replay program)
// commits with the tool's latency. A model the host runs keeps its output
// check on a ref agent, and gets a timing check, with a warning naming the
// agent, for one timing with benchmark_model (an error with --check output).
func TestDeployModelHostCannotRun(t *testing.T) {
	kws := sharedModel(t, "keyword_scrambled_8bit.tflite")
	transcript := refdata.Path(t, filepath.Join("benchmark_model", "06-android-pixel6-cpu-xnnpack-efficientdet-lite0-int8.txt"))
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	keys, pub := hostKeys(t, dir)
	state := filepath.Join(dir, "state")
	refAgent, _ := runAgent(t, b.URL(), pub, "ref-1", "mcu", filepath.Join(dir, "ref-1"))
	bin, calls := replaytest.Install(t, replaytest.Replay{Transcript: transcript, Require: map[string]string{"use_xnnpack": "true"}})
	toolAgent, _ := fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: "phone-1", Class: "phone", Password: fleettest.AgentPassword,
		DataDir: filepath.Join(dir, "phone-1"), Backend: "ref", Version: "test", Trust: pub, Heartbeat: 500 * time.Millisecond,
		BenchmarkModel: &benchmodel.Options{Binary: bin}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	waitAgents(t, b.URL(), proto.StateOnline, "ref-1", "phone-1")
	fc := filepath.Join(dir, "fc.tflite")
	if err := os.WriteFile(fc, fleettest.LayerModel(t, "fc-input:16-output:10"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostArgs := []string{"--keys", keys, "--broker", b.URL(), "--password", fleettest.Host.Password,
		"--state", state, "--wait", "500ms", "--timeout", "30s", "--json"}

	tests := []struct {
		name      string
		model     string
		args      []string
		wantCode  int
		wantErrs  []string // substrings of stderr
		wantState string   // the one device's final state ("" : no rollout)
		wantIn    string   // substring of its reason
	}{
		{name: "output check asked", model: kws, args: []string{"--to", "ref-1", "--check", "output"}, wantCode: 1,
			wantErrs: []string{"cannot run operators [QUANTIZE SVDF SOFTMAX]", "SVDF (operators 1, 3", "cannot compute the expected output"}},
		{name: "bad check", model: kws, args: []string{"--to", "ref-1", "--check", "none"}, wantCode: 2, wantErrs: []string{`--check "none"`}},
		{name: "ref agent refuses", model: kws, args: []string{"--to", "ref-1"}, wantCode: 1,
			wantErrs:  []string{"warning: the host's", "SVDF (operators 1, 3", "timing-only", "health check: timing only"},
			wantState: proto.InstallRefused, wantIn: "ref backend cannot run operators"},
		{name: "benchmark_model agent installs", model: kws, args: []string{"--to", "phone-1"},
			wantErrs:  []string{"timing-only", "health check: timing only"},
			wantState: proto.InstallCommitted},
		{name: "output check to benchmark_model agent", model: fc, args: []string{"--to", "phone-1", "--check", "output"}, wantCode: 1,
			wantErrs: []string{"agents phone-1 time models with benchmark_model", "cannot compare the expected output"}},
		{name: "runnable model to benchmark_model agent", model: fc, args: []string{"--to", "phone-1"},
			wantErrs:  []string{"warning: agents phone-1 time models with benchmark_model", "health check: timing only"},
			wantState: proto.InstallCommitted},
		{name: "runnable model to ref agent", model: fc, args: []string{"--to", "ref-1"},
			wantErrs:  []string{"health check: output, expected on seed"},
			wantState: proto.InstallCommitted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append(append([]string{"deploy", "--model", tc.model}, tc.args...), hostArgs...)...)
			t.Logf("stderr:\n%s", errs)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.wantCode, errs, out)
			}
			for _, w := range tc.wantErrs {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if tc.wantState == "" {
				return
			}
			s := parseStatus(t, out)
			if len(s.Devices) != 1 || s.Devices[0].State != tc.wantState || !strings.Contains(s.Devices[0].Reason, tc.wantIn) {
				t.Fatalf("devices %+v, want one %s with a reason containing %q", s.Devices, tc.wantState, tc.wantIn)
			}
			if d := s.Devices[0]; tc.wantState == proto.InstallCommitted && !(d.LatencyMS > 0) {
				t.Errorf("committed without a latency: %+v", d)
			}
		})
	}
	if v, err := refAgent.Models().Committed("keyword_scrambled_8bit"); err != nil || v != 0 {
		t.Errorf("ref agent: committed %d (%v), want nothing", v, err)
	}
	if v, err := toolAgent.Models().Committed("keyword_scrambled_8bit"); err != nil || v == 0 {
		t.Errorf("benchmark_model agent: committed %d (%v), want a version", v, err)
	}
	if n := len(calls()); n != 2 {
		t.Errorf("benchmark_model ran %d times, want 2 (the health checks)", n)
	}
}

// hostKeys makes a host key directory (DIR/keys) with `keys init` and
// returns it with the public key agents trust.
func hostKeys(t *testing.T, dir string) (string, ed25519.PublicKey) {
	t.Helper()
	keys := filepath.Join(dir, "keys")
	if code, _, errs := runCLI(t, "keys", "init", "--dir", keys); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	pub, err := signing.LoadPublic(filepath.Join(keys, signing.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	return keys, pub
}
