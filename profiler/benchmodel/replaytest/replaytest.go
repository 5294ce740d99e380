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

// Install builds the stand-in into a temporary directory and returns its path
// and a function listing the calls made so far.
func Install(t testing.TB, r Replay) (bin string, calls func() []Call) {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("replaytest: cannot locate the replay program's source")
	}
	src := filepath.Join(filepath.Dir(file), "..", "testdata", "replay")
	dir := t.TempDir()
	bin = filepath.Join(dir, "benchmark_model")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("replaytest: build the replay program: %v\n%s", err, out)
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
