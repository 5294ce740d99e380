package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/agent"
	"edgenas/internal/refdata"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/profiler/benchmodel/replaytest"
	"edgenas/space"
)

// These tests run a replay of a recorded Pixel 6 NNAPI transcript in place
// of TFLite's benchmark_model (none can run here): they prove the command
// line and the path from the tool's output into results and tables, not
// any timing.

func pixel6Replay(t *testing.T, require map[string]string) (string, func() []replaytest.Call) {
	t.Helper()
	tr := refdata.Path(t, filepath.Join("benchmark_model", "03-nnapi-pixel6-edgetpu-partial-efficientnet-lite0-int8.txt"))
	return replaytest.Install(t, replaytest.Replay{Transcript: tr, Require: require})
}

// TestProfileBenchmarkModel: profile --backend benchmark-model --delegate
// nnapi fills a table whose entries carry the delegate and its partial
// delegation; a rerun measures nothing (the table key includes the delegate).
func TestProfileBenchmarkModel(t *testing.T) {
	bin, calls := pixel6Replay(t, map[string]string{"use_nnapi": "true", "nnapi_accelerator_name": "google-edgetpu"})
	out := filepath.Join(t.TempDir(), "lut.db")
	args := []string{"profile", "--space", "spnas-fmnist", "--backend", "benchmark-model", "--benchmark-model", bin,
		"--delegate", "nnapi", "--nnapi-accelerator", "google-edgetpu", "--device", "pixel6", "--out", out, "--json"}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	keys := len(space.MustLookup("spnas-fmnist").UniqueKeys())
	var sum map[string]any
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum["present"] != float64(keys) {
		t.Fatalf("summary %s (%v), want %d keys present", stdout, err, keys)
	}
	if n := len(calls()); n < keys {
		t.Errorf("benchmark_model ran %d times for %d keys", n, keys)
	}
	st, err := lut.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Entries(lut.Filter{Device: "pixel6"})
	st.Close()
	if err != nil || len(es) != keys {
		t.Fatalf("%d entries (%v), want %d", len(es), err, keys)
	}
	for _, e := range es {
		d := e.Conditions.Delegate
		if e.Backend != "benchmark-model-nnapi" || d == nil || d.Name != "nnapi" || !d.Partial() || d.Nodes != 62 || d.TotalNodes != 64 ||
			d.Partitions != 3 || d.Options["nnapi_accelerator_name"] != "google-edgetpu" || e.Stats.P50 != 1354 {
			t.Fatalf("entry %s: backend %s delegate %+v p50 %g", e.Key, e.Backend, d, e.Stats.P50)
		}
	}
	code, stdout, stderr = runCLI(t, "lut", "show", "--lut", out, "--backend", "benchmark-model-nnapi", "--entries")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("%d entries were only partly delegated", keys)) ||
		!strings.Contains(stdout, "nnapi, partial, 62 of 64 nodes in 3 partitions") {
		t.Errorf("lut show: exit %d\n%s%s", code, stdout, stderr)
	}
	before := len(calls())
	if code, _, stderr := runCLI(t, args...); code != 0 || len(calls()) != before {
		t.Errorf("rerun: exit %d, %d new runs; want 0 (resumed): %s", code, len(calls())-before, stderr)
	}
}

// TestBenchBenchmarkModel: bench --backend benchmark-model times a model with
// the tool; a failed delegation exits non-zero naming the delegate; tool
// settings without the tool are refused.
func TestBenchBenchmarkModel(t *testing.T) {
	model := replaytest.Model(t)
	bin, _ := pixel6Replay(t, map[string]string{"use_nnapi": "true", "num_threads": "4", "num_runs": "50"})
	code, stdout, stderr := runCLI(t, "bench", "--backend", "benchmark-model", "--benchmark-model", bin, "--delegate", "nnapi",
		"--threads", "4", "--json", model)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Backend   string                `json:"backend"`
		Delegate  profiler.DelegateInfo `json:"delegate"`
		Inference profiler.Stats        `json:"inference"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Backend != "benchmark-model-nnapi" || rep.Delegate.Mode != "partial" || rep.Inference.Mean != 1389.89 {
		t.Errorf("report %+v", rep)
	}
	failed := refdata.Path(t, filepath.Join("benchmark_model", "07-nnapi-pixel6-failed-efficientdet-lite0-int8.txt"))
	bad, _ := replaytest.Install(t, replaytest.Replay{Transcript: failed})
	code, _, stderr = runCLI(t, "bench", "--backend", "benchmark-model", "--benchmark-model", bad, "--delegate", "nnapi", model)
	if code != 1 || !strings.Contains(stderr, "NNAPI delegate") {
		t.Errorf("failed run: exit %d stderr %q; want 1 naming the NNAPI delegate", code, stderr)
	}
	code, _, stderr = runCLI(t, "bench", "--backend", "ref", "--delegate", "nnapi", model)
	if code != 2 || !strings.Contains(stderr, "need --backend benchmark-model") {
		t.Errorf("--delegate with ref: exit %d stderr %q; want a usage error", code, stderr)
	}
}

// TestAgentToolBackend: agent --backend benchmark-model --delegate gpu
// measures with the tool and keeps a built-in backend for deployed models.
func TestAgentToolBackend(t *testing.T) {
	tests := []struct {
		name     string
		backend  string
		delegate string
		wantTool bool
		missing  bool
		wantErr  string
	}{
		{name: "tool", backend: "benchmark-model", delegate: "gpu", wantTool: true},
		{name: "own backend", backend: "ref"},
		{name: "delegate without the tool", backend: "ref", delegate: "gpu", wantErr: "need --backend benchmark-model"},
		{name: "unknown delegate", backend: "benchmark-model", delegate: "tpu", wantErr: `unknown delegate "tpu"`},
		{name: "missing binary", backend: "benchmark-model", delegate: "nnapi", missing: true, wantErr: "benchmark_model binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agent.Config{Backend: tc.backend}
			bm := benchModelFlags{o: benchmodel.Options{Binary: os.Args[0], Delegate: tc.delegate}} // any executable
			if tc.delegate == "" {
				bm.o.Binary = ""
			}
			if tc.missing {
				bm.o.Binary = filepath.Join(t.TempDir(), "benchmark_model")
			}
			err := agentToolBackend(&cfg, &bm)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.BenchmarkModel != nil) != tc.wantTool || cfg.Backend == "benchmark-model" {
				t.Errorf("config backend %s tool %+v", cfg.Backend, cfg.BenchmarkModel)
			}
			if tc.wantTool && cfg.BenchmarkModel.Delegate != tc.delegate {
				t.Errorf("delegate %s, want %s", cfg.BenchmarkModel.Delegate, tc.delegate)
			}
		})
	}
}
