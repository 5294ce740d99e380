// Package replaytest builds a stand-in for TensorFlow Lite's benchmark_model
// for tests: a small Go program (../testdata/replay) that checks the flags
// it receives and prints a recorded real transcript. It is a replay, not the
// real tool: it proves the command line edgenas builds and the path from the
// tool's output to results, not any timing.
package replaytest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"edgenas/profiler"
	"edgenas/space"
	"edgenas/tflite"
)

// Replay says what the stand-in prints and what it insists on.
type Replay struct {
	// Transcript is the recorded output to print.
	Transcript string
	// Require are flags (without "--") that must have these values.
	Require map[string]string
	// CSV, if set, is copied to --profiling_output_csv_file.
	CSV string
}

// Call is one invocation the stand-in logged.
type Call struct {
	Args []string `json:"args"`
	// CPUs is the process's Cpus_allowed_list (what taskset set).
	CPUs string `json:"cpus"`
}

// Kit is a built stand-in, ready to install with different transcripts.
type Kit struct {
	bin []byte
}

// New builds the stand-in once (tests that install several replays share it).
func New(t testing.TB) *Kit {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("replaytest: cannot locate the replay program's source")
	}
	src := filepath.Join(filepath.Dir(file), "..", "testdata", "replay")
	out := filepath.Join(t.TempDir(), "benchmark_model")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("replaytest: build the replay program: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return &Kit{bin: b}
}

// Install builds the stand-in and installs one replay (see Kit.Install).
func Install(t testing.TB, r Replay) (bin string, calls func() []Call) {
	t.Helper()
	return New(t).Install(t, r)
}

// Install puts a copy of the stand-in, set up for r, in a temporary
// directory and returns its path and a function listing the calls made so far.
func (k *Kit) Install(t testing.TB, r Replay) (bin string, calls func() []Call) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "benchmark_model")
	if err := os.WriteFile(bin, k.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "calls.jsonl")
	cfg, err := json.Marshal(map[string]any{"transcript": r.Transcript, "require": r.Require, "log": logPath, "csv": r.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".replay.json", cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, func() []Call {
		f, err := os.Open(logPath)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []Call
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var c Call
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				t.Fatalf("replaytest: call log: %v", err)
			}
			out = append(out, c)
		}
		return out
	}
}

// Model writes a real .tflite file to time (the replay checks the format):
// the microbenchmark of spnas-fmnist's first latency-table key.
func Model(t testing.TB) string {
	t.Helper()
	m, err := profiler.LayerModel(space.MustLookup("spnas-fmnist").UniqueKeys()[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := tflite.Write(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
