package profiler

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"edgenas/tflite"
)

// The operator-wise profile in TFLite benchmark_model's layout (its
// StatsCalculator, tensorflow/core/util/stats_calculator.cc, driven by
// tensorflow/lite/profiling/profile_summary_formatter.cc): "Run Order",
// "Top by Computation Time" and "Summary by node type" tables with
// tab-separated, right-aligned fixed-point columns, or the same tables as
// CSV (--profiling_output_csv_file). Memory is not profiled: its column is 0,
// as benchmark_model prints it without memory profiling.

// topByTimeLimit is benchmark_model's default length of "Top by Computation
// Time" (StatSummarizerOptions.time_limit).
const topByTimeLimit = 10

// nodeTypeWidth is the node type column of TFLite 2.7 and later.
const nodeTypeWidth = 40

// OpRow is one execution node of an operator-wise profile.
type OpRow struct {
	// Type is the node type: the operator ("CONV_2D") or "XNNPACK(12 ops)".
	Type string `json:"node_type"`
	// Name is TFLite's node name: the output tensors and the operator index,
	// "[model/conv/Relu6]:3".
	Name    string  `json:"name"`
	Ops     []int   `json:"ops"`
	Backend string  `json:"backend"`
	FirstMs float64 `json:"first_ms"`
	AvgMs   float64 `json:"avg_ms"`
	// Percent is the node's share of the whole run's time.
	Percent float64 `json:"percent"`
	// TimesCalled is per run.
	TimesCalled int `json:"times_called"`
}

// OpProfile is an operator-wise profile: the nodes of the timed runs and the
// run totals they are part of.
type OpProfile struct {
	Rows []OpRow `json:"nodes"`
	// RunsMicros are the total times of the profiled runs.
	RunsMicros []float64 `json:"-"`
}

// NewOpProfile turns a Bench result of m into an operator-wise profile.
func NewOpProfile(m *tflite.Model, res BenchResult) OpProfile {
	p := OpProfile{RunsMicros: slices.Clone(res.RunsMicros)}
	runs := max(len(res.RunsMicros), 1)
	for _, n := range res.Nodes {
		r := OpRow{Type: n.Name, Name: nodeName(m, n.Ops), Ops: slices.Clone(n.Ops), Backend: n.Backend,
			FirstMs: n.FirstMicros / 1000, AvgMs: n.AvgMicros / 1000, TimesCalled: n.Count / runs}
		if res.Inference.Mean > 0 {
			r.Percent = 100 * n.AvgMicros * float64(n.Count) / (res.Inference.Mean * float64(runs))
		}
		p.Rows = append(p.Rows, r)
	}
	return p
}

// nodeName is how TFLite names a node in its profiles: its output tensors
// in brackets, then the operator index.
func nodeName(m *tflite.Model, ops []int) string {
	if len(ops) == 0 {
		return "[]:-1"
	}
	var outs []string
	for _, t := range m.Operators[ops[len(ops)-1]].Outputs {
		if t >= 0 && t < len(m.Tensors) {
			outs = append(outs, m.Tensors[t].Name)
		}
	}
	return "[" + strings.Join(outs, ", ") + "]:" + strconv.Itoa(ops[0])
}

// SumMicros is the sum of the nodes' average times per run.
func (p OpProfile) SumMicros() float64 {
	var s float64
	for _, r := range p.Rows {
		s += r.AvgMs * 1000 * float64(max(r.TimesCalled, 1))
	}
	return s
}

// typeRow is one line of "Summary by node type".
type typeRow struct {
	Type  string
	Count int
	// Micros is per run. benchmark_model truncates each node's time to whole
	// microseconds here; edgenas times in nanoseconds and keeps the
	// fraction, or its sub-microsecond operators would all sum to zero.
	Micros       float64
	TimesCalled  int
	Percent, CDF float64
}

func (p OpProfile) byType() []typeRow {
	idx := map[string]int{}
	var rows []typeRow
	var total float64
	for _, r := range p.Rows {
		i, ok := idx[r.Type]
		if !ok {
			i = len(rows)
			idx[r.Type] = i
			rows = append(rows, typeRow{Type: r.Type})
		}
		us := r.AvgMs * 1000 * float64(max(r.TimesCalled, 1))
		rows[i].Count++
		rows[i].Micros += us
		rows[i].TimesCalled += r.TimesCalled
		total += us
	}
	// benchmark_model pops a max-heap of (time, type): slowest first, ties
	// by type name, largest first.
	slices.SortFunc(rows, func(a, b typeRow) int {
		if a.Micros != b.Micros {
			if a.Micros > b.Micros {
				return -1
			}
			return 1
		}
		return strings.Compare(b.Type, a.Type)
	})
	var cdf float64
	for i := range rows {
		if total > 0 {
			rows[i].Percent = 100 * rows[i].Micros / total
		}
		cdf += rows[i].Percent
		rows[i].CDF = cdf
	}
	return rows
}

// topByTime is the rows sorted slowest first, at most limit.
func (p OpProfile) topByTime(limit int) []OpRow {
	rows := slices.Clone(p.Rows)
	slices.SortStableFunc(rows, func(a, b OpRow) int {
		switch {
		case a.AvgMs > b.AvgMs:
			return -1
		case a.AvgMs < b.AvgMs:
			return 1
		}
		return 0
	})
	return rows[:min(limit, len(rows))]
}

// WriteTables prints the profile as benchmark_model does after "Operator-wise
// Profiling Info for Regular Benchmark Runs:".
func (p OpProfile) WriteTables(w io.Writer) error {
	var b strings.Builder
	p.table(&b, "Run Order", p.Rows, false)
	p.table(&b, "Top by Computation Time", p.topByTime(topByTimeLimit), false)
	p.typeTable(&b, false)
	b.WriteString(p.shortSummary())
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes the profile in the layout of benchmark_model's
// --profiling_output_csv_file.
func (p OpProfile) WriteCSV(w io.Writer) error {
	var b strings.Builder
	b.WriteString("Operator-wise Profiling Info for Regular Benchmark Runs:\n")
	p.table(&b, "Run Order", p.Rows, true)
	p.table(&b, "Top by Computation Time", p.topByTime(topByTimeLimit), true)
	p.typeTable(&b, true)
	b.WriteString(p.shortSummary())
	_, err := io.WriteString(w, b.String())
	return err
}

func header(b *strings.Builder, title string) {
	fmt.Fprintf(b, "============================== %s ==============================\n", title)
}

func (p OpProfile) table(b *strings.Builder, title string, rows []OpRow, csv bool) {
	header(b, title)
	if csv {
		b.WriteString("node type, first, avg_ms, %, cdf%, mem KB, times called, name\n")
	} else {
		fmt.Fprintf(b, "\t%*s\t%9s\t%9s\t%8s\t%8s\t%10s\t%9s\t%s\n", nodeTypeWidth, "[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]",
			"[mem KB]", "[times called]", "[Name]")
	}
	var cdf float64
	for _, r := range rows {
		cdf += r.Percent
		if csv {
			fmt.Fprintf(b, "%s, %s, %s, %s%%, %s%%, 0, %d, %s\n", r.Type, cppFloat(r.FirstMs), cppFloat(r.AvgMs), cppFloat(r.Percent),
				cppFloat(cdf), r.TimesCalled, strings.ReplaceAll(r.Name, ",", "\t"))
		} else {
			fmt.Fprintf(b, "\t%*s\t%9.3f\t%9.3f\t%7.3f%%\t%7.3f%%\t%10.3f\t%9d\t%s\n", nodeTypeWidth, r.Type, r.FirstMs, r.AvgMs, r.Percent, cdf,
				0.0, r.TimesCalled, r.Name)
		}
	}
	b.WriteString("\n")
}

func (p OpProfile) typeTable(b *strings.Builder, csv bool) {
	fmt.Fprintf(b, "Number of nodes executed: %d\n", len(p.Rows))
	header(b, "Summary by node type")
	if csv {
		b.WriteString("node type, count, avg_ms, avg %, cdf %, mem KB, times called\n")
	} else {
		fmt.Fprintf(b, "\t%*s\t%9s\t%10s\t%11s\t%11s\t%10s\t%10s\n", nodeTypeWidth, "[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]",
			"[mem KB]", "[times called]")
	}
	for _, r := range p.byType() {
		ms := r.Micros / 1000
		if csv {
			fmt.Fprintf(b, "%s, %d, %s, %s%%, %s%%, 0, %d\n", r.Type, r.Count, cppFloat(ms), cppFloat(r.Percent), cppFloat(r.CDF), r.TimesCalled)
		} else {
			fmt.Fprintf(b, "\t%*s\t%9d\t%10.3f\t%10.3f%%\t%10.3f%%\t%10.3f\t%9d\n", nodeTypeWidth, r.Type, r.Count, ms, r.Percent, r.CDF, 0.0, r.TimesCalled)
		}
	}
	b.WriteString("\n")
}

// shortSummary is StatsCalculator's closing lines: the run totals in whole
// microseconds ("Timings (microseconds): count=64 first=15808 curr=14892
// min=14470 max=17363 avg=15309.2 std=542").
func (p OpProfile) shortSummary() string {
	var b strings.Builder
	b.WriteString("Timings (microseconds): ")
	if n := len(p.RunsMicros); n == 0 {
		b.WriteString("count=0")
	} else {
		s := SummarizeMicros(p.RunsMicros)
		fmt.Fprintf(&b, "count=%d first=%d curr=%d min=%d max=%d avg=%s std=%d", n, int64(p.RunsMicros[0]), int64(p.RunsMicros[n-1]),
			int64(s.Min), int64(s.Max), cppFloat(s.Mean), int64(math.Round(s.Std)))
	}
	fmt.Fprintf(&b, "\nMemory (bytes): count=0\n%d nodes observed\n\n", len(p.Rows))
	return b.String()
}

// cppFloat formats v as a C++ ostream does by default (%g, 6 significant
// digits): 0.203, 55.64, 1.5e-05.
func cppFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// InferenceTimings is benchmark_model's summary line, which scripts grep:
// "Inference timings in us: Init: 32163, First inference: 19834, Warmup
// (avg): 15997.4, Inference (avg): 15517.6".
func InferenceTimings(initMicros float64, res BenchResult) string {
	return fmt.Sprintf("Inference timings in us: Init: %s, First inference: %s, Warmup (avg): %s, Inference (avg): %s",
		cppFloat(math.Round(initMicros)), cppFloat(math.Round(res.FirstMicros)), cppFloat(res.Warmup.Mean), cppFloat(res.Inference.Mean))
}
