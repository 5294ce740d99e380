package agent_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/refdata"
	"edgenas/profiler/benchmodel"
	"edgenas/profiler/benchmodel/replaytest"
	"edgenas/runtime/backends"
)

// toolTranscript is the recorded benchmark_model run (XNNPACK delegate) the
// replay prints for a benchmark-model agent's health check.
const toolTranscript = "06-android-pixel6-cpu-xnnpack-efficientdet-lite0-int8.txt"

// TestDeployHealthCheckModes deploys, through the host's manifest code and a
// real broker, to in-process agents on each kind of backend:
// keyword_scrambled (SVDF, which no built-in backend runs; the host signs a
// timing check for it) is refused by ref and xnnpack agents naming SVDF,
// with nothing installed, and committed by a benchmark_model agent (the
// replay program) with the tool's timing; a model the host can run keeps
// its output check on xnnpack (a wrong expected output rolls back), is
// refused by the benchmark_model agent before download (it cannot compare
// outputs), and installs there with a timing check.
func TestDeployHealthCheckModes(t *testing.T) {
	transcript := refdata.Path(t, filepath.Join("benchmark_model", toolTranscript))
	kwsBody, err := os.ReadFile(refdata.Path(t, "keyword_scrambled_8bit.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	// The latency the tool's health check must report: the transcript's
	// median, as `bench import` reads it.
	tr, err := os.Open(transcript)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := benchmodel.ImportTranscript(tr)
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	toolMS := rep.Inference.P50 / 1000
	fcBody := fleettest.LayerModel(t, "fc-input:16-output:10")
	kit := replaytest.New(t)
	tests := []struct {
		name      string
		backend   string // ref, xnnpack or tool
		body      []byte
		check     string // ManifestOptions.Check
		edit      func(*proto.Manifest)
		wantState string
		wantIn    string // substring of the final report's Reason
		wantMS    float64
		wantCalls int // benchmark_model runs
	}{
		{name: "SVDF to ref", backend: "ref", body: kwsBody, wantState: proto.InstallRefused, wantIn: "SVDF (operators 1, 3"},
		{name: "SVDF to xnnpack", backend: "xnnpack", body: kwsBody, wantState: proto.InstallRefused, wantIn: "SVDF (operators 1, 3"},
		{name: "SVDF to benchmark_model", backend: "tool", body: kwsBody, wantState: proto.InstallCommitted, wantMS: toolMS, wantCalls: 1},
		{name: "output check on xnnpack", backend: "xnnpack", body: fcBody, wantState: proto.InstallCommitted},
		{name: "wrong output on xnnpack", backend: "xnnpack", body: fcBody, wantState: proto.InstallRolledBack, wantIn: "health check: ",
			edit: func(m *proto.Manifest) {
				for i := range m.Expected {
					m.Expected[i] = byte(int8(-100 + 20*i))
				}
			}},
		{name: "timing check on ref", backend: "ref", body: fcBody, check: proto.CheckTiming, wantState: proto.InstallCommitted},
		{name: "output check to benchmark_model", backend: "tool", body: fcBody, wantState: proto.InstallRefused, wantIn: "prints no outputs"},
		{name: "timing check on benchmark_model", backend: "tool", body: fcBody, check: proto.CheckTiming, wantState: proto.InstallCommitted,
			wantMS: toolMS, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
			dir := t.TempDir()
			cfg := agent.Config{Broker: r.Broker.URL(), ID: "dev1", Password: fleettest.AgentPassword, DataDir: dir,
				Backend: tc.backend, Trust: r.Key.Public, Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond}
			calls := func() []replaytest.Call { return nil }
			switch tc.backend {
			case "tool":
				var bin string
				bin, calls = kit.Install(t, replaytest.Replay{Transcript: transcript,
					Require: map[string]string{"use_xnnpack": "true", "num_threads": "1"}})
				cfg.Backend = "ref"
				cfg.BenchmarkModel = &benchmodel.Options{Binary: bin, Delegate: benchmodel.DelegateXNNPACK}
			case "xnnpack":
				if !slices.Contains(backends.Available(), "xnnpack") {
					t.Skip("xnnpack not in this build")
				}
			}
			_, stop := fleettest.RunAgent(t, cfg)
			defer stop()
			// The host computes any expected output on the ref backend.
			o := rollout.ManifestOptions{Name: "m", Version: 1, InputSeed: 9, MaxDiff: rollout.DefaultMaxDiff, Backend: "ref", Check: tc.check}
			r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, tc.body), o, tc.edit)
			got := r.Host.WaitState(t, "r1", tc.wantState, 30*time.Second)
			if !strings.Contains(got.Reason, tc.wantIn) {
				t.Errorf("%s: reason %q, want it to contain %q", got.State, got.Reason, tc.wantIn)
			}
			if tc.wantState == proto.InstallCommitted && !(got.LatencyMS > 0) ||
				tc.wantMS > 0 && math.Abs(got.LatencyMS-tc.wantMS) > 1e-9 {
				t.Errorf("committed latency %g ms, want %g (0: any positive)", got.LatencyMS, tc.wantMS)
			}
			if n := len(calls()); n != tc.wantCalls {
				t.Errorf("benchmark_model ran %d times, want %d", n, tc.wantCalls)
			}
			seen := r.Host.Seen("r1")
			if tc.wantState == proto.InstallRefused && slices.Contains(seen, proto.InstallInstalling) {
				t.Errorf("refused after installing: %q", seen)
			}
			if tc.wantIn == "prints no outputs" && slices.Contains(seen, proto.InstallDownloading) {
				t.Errorf("the output check was refused only after a download: %q", seen)
			}
			if tc.wantState != proto.InstallCommitted {
				if vs, _ := filepath.Glob(filepath.Join(dir, "models", "m", "[0-9]*")); len(vs) != 0 {
					t.Errorf("versions left installed: %v", vs)
				}
			}
			stop()
			want := uint64(0)
			if tc.wantState == proto.InstallCommitted {
				want = 1
			}
			checkStore(t, dir, want)
		})
	}
}
