// Command replay stands in for TensorFlow Lite's benchmark_model in tests:
// it is a replay, not the real tool. It checks the command line it gets
// (every flag must be one of benchmark_model's, the model must be a .tflite
// file, the flags the test requires must be there), logs the call, and
// prints a recorded real transcript. Its settings are in the JSON file
// next to it (<binary>.replay.json).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// known are benchmark_model's flags (tensorflow/lite/tools/benchmark and the
// delegate providers). The real tool ignores unknown flags with a warning;
// the replay refuses them so a misspelt flag fails the test.
var known = map[string]bool{
	"graph": true, "num_threads": true, "num_runs": true, "min_secs": true, "max_secs": true, "run_delay": true,
	"warmup_runs": true, "warmup_min_secs": true, "enable_op_profiling": true, "profiling_output_csv_file": true,
	"max_profiling_buffer_entries": true, "report_peak_memory_footprint": true, "input_layer": true,
	"input_layer_shape": true, "require_full_delegation": true, "max_delegated_partitions": true,
	"use_xnnpack": true, "xnnpack_force_fp16": true,
	"use_nnapi": true, "nnapi_accelerator_name": true, "nnapi_execution_preference": true, "nnapi_allow_fp16": true,
	"disable_nnapi_cpu": true,
	"use_gpu":           true, "gpu_precision_loss_allowed": true, "gpu_backend": true,
	"use_hexagon": true, "hexagon_lib_path": true, "hexagon_profiling": true,
	"external_delegate_path": true, "external_delegate_options": true,
}

type config struct {
	Transcript string            `json:"transcript"`
	Require    map[string]string `json:"require"`
	Log        string            `json:"log"`
	CSV        string            `json:"csv"`
}

// Call is one logged invocation.
type call struct {
	Args []string `json:"args"`
	CPUs string   `json:"cpus"`
}

func main() {
	os.Exit(run())
}

func run() int {
	self, err := os.Executable()
	if err != nil {
		return fail(2, "replay: %v", err)
	}
	b, err := os.ReadFile(self + ".replay.json")
	if err != nil {
		return fail(2, "replay: no settings: %v", err)
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(2, "replay: settings: %v", err)
	}
	flags := map[string]string{}
	for _, a := range os.Args[1:] {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok || !known[name] {
			return fail(2, "Unconsumed cmdline flags: %s (the replay refuses flags benchmark_model does not have)", a)
		}
		flags[name] = val
	}
	model, err := os.ReadFile(flags["graph"])
	if err != nil || len(model) < 8 || string(model[4:8]) != "TFL3" {
		return fail(1, "ERROR: Could not load model %q (not a .tflite file)", flags["graph"])
	}
	for k, want := range cfg.Require {
		if got, ok := flags[k]; !ok || got != want {
			return fail(3, "replay: flag --%s is %q, the test requires %q", k, got, want)
		}
	}
	if cfg.Log != "" {
		if err := logCall(cfg.Log, call{Args: os.Args[1:], CPUs: allowedCPUs()}); err != nil {
			return fail(2, "replay: log: %v", err)
		}
	}
	if out := flags["profiling_output_csv_file"]; out != "" && cfg.CSV != "" {
		csv, err := os.ReadFile(cfg.CSV)
		if err == nil {
			err = os.WriteFile(out, csv, 0o644)
		}
		if err != nil {
			return fail(2, "replay: csv: %v", err)
		}
	}
	text, err := os.ReadFile(cfg.Transcript)
	if err != nil {
		return fail(2, "replay: transcript: %v", err)
	}
	os.Stderr.Write(text)
	if bytes.Contains(text, []byte("Benchmarking failed.")) {
		return 1
	}
	return 0
}

func logCall(path string, c call) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(c)
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// allowedCPUs is the CPU list the process may run on (what taskset set).
func allowedCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func fail(code int, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	return code
}
