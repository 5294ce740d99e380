// Package benchmodel runs TensorFlow Lite's official benchmark_model tool and
// reads what it prints: timings, memory, how the graph was delegated and the
// op-profiling tables. It is how edgenas times models with the runtime a
// phone ships (NNAPI, GPU, Hexagon, vendor delegates) instead of its own, and
// how a transcript saved by hand on an unreachable device becomes a result.
//
// Both output layouts are read: older builds (about TF <= 2.6) print no
// "INFO:" prefixes, a [start] column and peak memory; newer ones print
// prefixes, p5/median/p95 and a memory delta. Table columns may be tabs (raw
// output) or spaces (copied from a terminal); numbers may be in exponent form.
package benchmodel

import (
	"fmt"
	"strings"
)

// Timing is one "count=..." line: a phase's run statistics in microseconds.
type Timing struct {
	Count int     `json:"count"`
	First float64 `json:"first_us"`
	Curr  float64 `json:"curr_us"`
	Min   float64 `json:"min_us"`
	Max   float64 `json:"max_us"`
	Avg   float64 `json:"avg_us"`
	Std   float64 `json:"std_us"`
	// P5, Median and P95 are printed by newer builds only (HasPercentiles).
	P5             float64 `json:"p5_us,omitempty"`
	Median         float64 `json:"median_us,omitempty"`
	P95            float64 `json:"p95_us,omitempty"`
	HasPercentiles bool    `json:"has_percentiles,omitempty"`
	// AllSame: every run took Curr ("curr=X(all same)"), so min, max, avg
	// and the percentiles are all Curr.
	AllSame bool `json:"all_same,omitempty"`
}

// Summary is the "Inference timings in us" line (or the pre-2.0 "Average
// inference timings in us" line, which has no first inference).
type Summary struct {
	InitUs      float64 `json:"init_us"`
	FirstUs     float64 `json:"first_us,omitempty"`
	WarmupAvgUs float64 `json:"warmup_avg_us"`
	AvgUs       float64 `json:"inference_avg_us"`
}

// Memory is the footprint the tool reports in MB. Kind is "delta" (newer:
// growth since the tool started) or "peak" (older builds).
type Memory struct {
	Kind      string  `json:"kind"`
	InitMB    float64 `json:"init_mb"`
	OverallMB float64 `json:"overall_mb"`
	// PeakMB is from --report_peak_memory_footprint (periodic sampling).
	PeakMB float64 `json:"peak_mb,omitempty"`
}

// Replacement is one "Replacing D out of T node(s) with delegate (NAME)
// node, yielding P partitions" line. Partitions include the CPU segments.
// Older builds print no total (Total 0).
type Replacement struct {
	Delegate   string `json:"delegate"`
	Replaced   int    `json:"replaced"`
	Total      int    `json:"total,omitempty"`
	Partitions int    `json:"partitions"`
}

// Application modes of an explicitly applied delegate, as the tool states them.
const (
	ModeComplete = "complete"
	ModePartial  = "partial"
	ModeNone     = "none"
)

// Application is the tool's verdict on an explicitly applied delegate
// ("Explicitly applied NNAPI delegate, and the model graph will be partially
// executed by the delegate w/ 1 delegate kernels.").
type Application struct {
	Delegate string `json:"delegate"`
	Mode     string `json:"mode"`
	Kernels  int    `json:"kernels,omitempty"`
}

// Result is everything read from one benchmark_model transcript.
type Result struct {
	// Prefixed: lines carry INFO:/VERBOSE:/WARNING:/ERROR: (newer builds).
	Prefixed bool `json:"prefixed"`
	// Params are the logged parameters ("Graph", "Use NNAPI", ...), values
	// without their brackets.
	Params map[string]string `json:"params,omitempty"`
	// Accelerators lists "NNAPI accelerators available: [...]".
	Accelerators []string `json:"nnapi_accelerators,omitempty"`
	// Created lists the delegates the tool created ("NNAPI", "XNNPACK", "GPU",
	// "EXTERNAL", "Hexagon"), in order.
	Created []string `json:"created,omitempty"`
	// DelegatesApplied is "Going to apply N delegates" (older builds), -1 if absent.
	DelegatesApplied int           `json:"delegates_applied"`
	Replacements     []Replacement `json:"replacements,omitempty"`
	Applications     []Application `json:"applications,omitempty"`
	// GPUKernels is "Created N GPU delegate kernels."; GPUOps/CPUOps are the
	// GPU delegate's own split ("N operations will run on the GPU, and the
	// remaining M operations will run on the CPU").
	GPUKernels int `json:"gpu_kernels,omitempty"`
	GPUOps     int `json:"gpu_ops,omitempty"`
	CPUOps     int `json:"cpu_ops,omitempty"`
	// Hexagon is "Hexagon delegate: N nodes delegated out of M nodes with P partitions."
	Hexagon *Replacement `json:"hexagon,omitempty"`

	ModelMB       float64  `json:"model_mb,omitempty"`
	InitSessionMs float64  `json:"init_session_ms,omitempty"`
	Warmup        *Timing  `json:"warmup,omitempty"`
	Inference     *Timing  `json:"inference,omitempty"`
	Summary       *Summary `json:"summary,omitempty"`
	Memory        *Memory  `json:"memory,omitempty"`

	// InitProfile and RunProfile are the op-profiling sections
	// ("Profiling Info for Benchmark Initialization", "Operator-wise
	// Profiling Info for Regular Benchmark Runs").
	InitProfile *Profile `json:"init_profile,omitempty"`
	RunProfile  *Profile `json:"run_profile,omitempty"`

	// Warnings are the WARNING lines and the known unprefixed warnings
	// (a delegate that could not be created); Errors the ERROR lines.
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Failed is set by "Benchmarking failed." or "Failed to apply X delegate.";
	// FailedDelegate names the delegate of the latter.
	Failed         bool   `json:"failed,omitempty"`
	FailedDelegate string `json:"failed_delegate,omitempty"`
}

// Graph is the model path the tool was given.
func (r *Result) Graph() string { return r.Params["Graph"] }

// TimedRuns is the inference timing of the regular runs: the count line of
// the second phase or, for a profiling-only fragment, the profiler's own
// "Timings (microseconds)" line of the regular runs.
func (r *Result) TimedRuns() *Timing {
	if r.Inference != nil {
		return r.Inference
	}
	if r.RunProfile != nil {
		return r.RunProfile.Timings
	}
	return nil
}

// RunError is a benchmark_model run that did not produce a benchmark: the
// tool failed, or the delegate asked for was not applied.
type RunError struct {
	// Delegate is the delegate concerned ("NNAPI", "GPU", ...), or empty.
	Delegate string
	// Reason is what the tool said, the most specific error first.
	Reason string
}

func (e *RunError) Error() string {
	if e.Delegate != "" {
		return fmt.Sprintf("benchmark_model: %s delegate: %s", e.Delegate, e.Reason)
	}
	return "benchmark_model: " + e.Reason
}

// Err reports a failed run as a *RunError naming the delegate and the reason,
// or nil. A transcript with no timing and no profile at all is an error too.
func (r *Result) Err() error {
	if r.Failed {
		return &RunError{Delegate: r.FailedDelegate, Reason: r.failReason()}
	}
	if r.TimedRuns() == nil && r.RunProfile == nil {
		return &RunError{Reason: "no inference timings in the output (not a benchmark_model transcript, or cut short)"}
	}
	return nil
}

// failReason joins the errors the tool printed, leaving out its generic
// closing line when something more specific was said.
func (r *Result) failReason() string {
	var parts []string
	for _, e := range r.Errors {
		if e == "Benchmarking failed." && len(r.Errors) > 1 {
			continue
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return "Benchmarking failed."
	}
	return strings.Join(parts, "; ")
}
