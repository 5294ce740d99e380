package benchmodel

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"edgenas/profiler"
)

// Report is a benchmark_model run as an edgenas bench result: what
// `edgenas bench --backend benchmark-model` prints, and `edgenas bench
// --import` for transcripts saved by hand on devices edgenas cannot reach.
type Report struct {
	Graph   string `json:"model"`
	Backend string `json:"backend"`
	Threads int    `json:"threads,omitempty"`
	// Delegate is the delegate the run asked for and how much it took.
	Delegate    *profiler.DelegateInfo `json:"delegate"`
	InitMicros  float64                `json:"init_us,omitempty"`
	FirstMicros float64                `json:"first_us,omitempty"`
	Warmup      *profiler.Stats        `json:"warmup,omitempty"`
	Inference   profiler.Stats         `json:"inference"`
	Memory      *Memory                `json:"memory,omitempty"`
	// Nodes and ByType are the regular runs' op profile, if it was on.
	Nodes  []OpRow   `json:"nodes,omitempty"`
	ByType []TypeRow `json:"by_type,omitempty"`
	// Tool is everything read from the transcript.
	Tool *Result `json:"benchmark_model"`
}

// ImportTranscript reads a saved transcript. A failed run, or one whose
// delegate did not take the graph, is an error naming the delegate.
func ImportTranscript(rd io.Reader) (*Report, error) {
	r, err := Parse(rd)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	d := DetectDelegate(r)
	info, err := r.Delegation(d, r.DelegateOptions())
	if err != nil {
		return nil, err
	}
	return NewReport(r, d, info)
}

// NewReport builds the report of a successful run on delegate d.
func NewReport(r *Result, d string, info *profiler.DelegateInfo) (*Report, error) {
	timed := r.TimedRuns()
	if timed == nil {
		return nil, &RunError{Reason: "no timing of the regular runs in the output"}
	}
	in := &Report{Graph: r.Graph(), Backend: BackendName(d), Threads: r.Threads(), Delegate: info,
		Inference: TimingStats(timed), Memory: r.Memory, Tool: r}
	if r.Warmup != nil {
		w := TimingStats(r.Warmup)
		in.Warmup = &w
	}
	if s := r.Summary; s != nil {
		in.InitMicros, in.FirstMicros = s.InitUs, s.FirstUs
	}
	if in.FirstMicros == 0 && r.Warmup != nil {
		in.FirstMicros = r.Warmup.First
	}
	if p := r.RunProfile; p != nil {
		in.Nodes, in.ByType = p.RunOrder, p.ByType
	}
	return in, nil
}

// TimingStats converts a count line into edgenas statistics. benchmark_model
// prints p5/median/p95, not p10/p50/p90: P50 is its median, and P10/P90
// hold its p5/p95 (a slightly wider band). Builds that print no
// percentiles leave only the mean: P50 is then the mean and P10/P90 the
// min/max. MAD is not printed and stays 0.
func TimingStats(t *Timing) profiler.Stats {
	s := profiler.Stats{Count: t.Count, Min: t.Min, Max: t.Max, Mean: t.Avg, Std: t.Std,
		P10: t.Min, P50: t.Avg, P90: t.Max}
	if t.HasPercentiles {
		s.P10, s.P50, s.P90 = t.P5, t.Median, t.P95
	}
	if t.Avg > 0 {
		s.CV = t.Std / t.Avg
	}
	return s
}

// ciRel is the half-width of a normal-approximation 95% interval of the mean
// relative to the centre, capped at 1: benchmark_model prints no samples, so
// the profiler's order-statistic interval of the median cannot be formed.
func ciRel(s profiler.Stats) float64 {
	if s.Count < 2 || s.P50 <= 0 {
		return 1
	}
	return math.Min(1, 1.96*s.Std/math.Sqrt(float64(s.Count))/s.P50)
}

// DescribeDelegation is a one-line account of a delegation for people.
func DescribeDelegation(d *profiler.DelegateInfo) string {
	s := fmt.Sprintf("%s, %s", d.Name, d.Mode)
	if d.TotalNodes > 0 {
		s += fmt.Sprintf(", %d of %d nodes", d.Nodes, d.TotalNodes)
	}
	if d.Partitions > 0 {
		s += fmt.Sprintf(" in %d partitions", d.Partitions)
	}
	if d.Kernels > 0 {
		s += fmt.Sprintf(", %d delegate kernel(s)", d.Kernels)
	}
	return s
}

// WriteText prints the import the way edgenas bench prints its own runs,
// with the delegation stated and the op table when there is one.
func (in *Report) WriteText(w io.Writer) error {
	s := in.Inference
	graph := in.Graph
	if graph == "" {
		graph = "(not named in the transcript)"
	}
	fmt.Fprintf(w, "model %s timed by benchmark_model (%s)", graph, in.Backend)
	if in.Threads > 0 {
		fmt.Fprintf(w, ", %d thread(s)", in.Threads)
	}
	fmt.Fprintf(w, "\nDelegate: %s\n", DescribeDelegation(in.Delegate))
	if in.Delegate.Partial() {
		fmt.Fprintln(w, "Note: partial delegation: part of the graph ran on the CPU, and the timing includes it")
	}
	if in.InitMicros > 0 || in.FirstMicros > 0 {
		fmt.Fprintf(w, "Init: %.0f us, First inference: %.0f us\n", in.InitMicros, in.FirstMicros)
	}
	if in.Warmup != nil {
		fmt.Fprintf(w, "Warmup: count=%d mean=%.2f us\n", in.Warmup.Count, in.Warmup.Mean)
	}
	fmt.Fprintf(w, "Inference: count=%d min=%.0f max=%.0f avg=%.2f std=%.0f p50=%.2f (us)\n", s.Count, s.Min, s.Max, s.Mean, s.Std, s.P50)
	if m := in.Memory; m != nil {
		fmt.Fprintf(w, "Memory (MB, %s): init=%g overall=%g\n", m.Kind, m.InitMB, m.OverallMB)
	}
	if len(in.Nodes) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nOperator profile (regular runs):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE TYPE\tAVG MS\t%\tCDF %\tNAME")
	for _, n := range in.Nodes {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%s\n", n.Type, n.AvgMs, n.Percent, n.CDF, n.Name)
	}
	return tw.Flush()
}
