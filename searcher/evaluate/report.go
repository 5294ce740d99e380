package evaluate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
)

// Stat is a sample's mean and standard deviation (sample, n-1; 0 for n=1).
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	var s Stat
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(len(xs)-1))
	}
	return s
}

// Group summarises one (method, target) group: every training of every
// candidate of its runs.
type Group struct {
	Method   string  `json:"method"`
	TargetMS float64 `json:"target_ms"`
	// Runs and Archs count the search runs and distinct candidates; N the trainings.
	Runs     int  `json:"runs"`
	Archs    int  `json:"archs"`
	N        int  `json:"n"`
	FloatAcc Stat `json:"float_test_accuracy"`
	Int8Acc  Stat `json:"int8_test_accuracy"`
	// PredictedMS and MeasuredMS are over the trainings; the errors are
	// 100*(mean/target - 1).
	PredictedMS     Stat    `json:"predicted_ms"`
	MeasuredMS      Stat    `json:"measured_ms"`
	PredictedErrPct float64 `json:"predicted_err_pct"`
	MeasuredErrPct  float64 `json:"measured_err_pct"`
	// SearchSeconds is the mean search cost per run (runs that recorded it).
	SearchSeconds float64 `json:"search_seconds"`
	// RIFloat and RIInt8 compare the group's mean accuracy with the random
	// group of the same target: 100*(acc - acc_random)/acc_random. Absent
	// for the random group itself or without one.
	RIFloat *float64 `json:"ri_float,omitempty"`
	RIInt8  *float64 `json:"ri_int8,omitempty"`
}

// Report is an evaluation's outcome.
type Report struct {
	Groups    []Group     `json:"groups"`
	Trainings []*Training `json:"trainings"`
	// MeasuredOn says where the int8 latencies were timed ("host NAME", or
	// a device class and its devices).
	MeasuredOn string `json:"measured_on,omitempty"`
}

// Summarize groups trainings by (method, target) and computes each group's
// statistics and RI against the random group of its target.
func Summarize(ts []*Training) *Report {
	type key struct {
		method string
		target float64
	}
	byKey := map[key][]*Training{}
	var keys []key
	for _, t := range ts {
		k := key{t.Method, t.TargetMS}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].target != keys[j].target {
			return keys[i].target < keys[j].target
		}
		return keys[i].method < keys[j].method
	})
	rep := &Report{Trainings: ts}
	for _, k := range keys {
		g := Group{Method: k.method, TargetMS: k.target, N: len(byKey[k])}
		var fa, ia, pm, mm, ss []float64
		runs, archs := map[string]bool{}, map[string]bool{}
		for _, t := range byKey[k] {
			fa, ia, pm, mm = append(fa, t.FloatAcc), append(ia, t.Int8Acc), append(pm, t.PredictedMS), append(mm, t.MeasuredMS)
			if !runs[t.Run] && t.SearchSeconds > 0 {
				ss = append(ss, t.SearchSeconds)
			}
			runs[t.Run], archs[t.Arch] = true, true
		}
		g.Runs, g.Archs = len(runs), len(archs)
		g.FloatAcc, g.Int8Acc, g.PredictedMS, g.MeasuredMS = stat(fa), stat(ia), stat(pm), stat(mm)
		g.SearchSeconds = stat(ss).Mean
		if k.target > 0 {
			g.PredictedErrPct = 100 * (g.PredictedMS.Mean/k.target - 1)
			g.MeasuredErrPct = 100 * (g.MeasuredMS.Mean/k.target - 1)
		}
		rep.Groups = append(rep.Groups, g)
	}
	for i := range rep.Groups {
		g := &rep.Groups[i]
		if g.Method == "random" {
			continue
		}
		for _, r := range rep.Groups {
			if r.Method == "random" && r.TargetMS == g.TargetMS && r.FloatAcc.Mean > 0 {
				f := 100 * (g.FloatAcc.Mean - r.FloatAcc.Mean) / r.FloatAcc.Mean
				g.RIFloat = &f
				if r.Int8Acc.Mean > 0 {
					q := 100 * (g.Int8Acc.Mean - r.Int8Acc.Mean) / r.Int8Acc.Mean
					g.RIInt8 = &q
				}
			}
		}
	}
	return rep
}

// Print writes the per-group table.
func (r *Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tTARGET MS\tRUNS\tN\tFLOAT ACC %\tINT8 ACC %\tPRED MS (ERR)\tMEAS MS (ERR)\tSEARCH S\tRI FLOAT\tRI INT8")
	for _, g := range r.Groups {
		search := "n/a"
		if g.SearchSeconds > 0 {
			search = fmt.Sprintf("%.3g", g.SearchSeconds)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%d\t%d\t%.2f +- %.2f\t%.2f +- %.2f\t%.3f (%+.1f%%)\t%.3f (%+.1f%%)\t%s\t%s\t%s\n",
			g.Method, g.TargetMS, g.Runs, g.N, 100*g.FloatAcc.Mean, 100*g.FloatAcc.Std, 100*g.Int8Acc.Mean, 100*g.Int8Acc.Std,
			g.PredictedMS.Mean, g.PredictedErrPct, g.MeasuredMS.Mean, g.MeasuredErrPct, search, pctOrDash(g.RIFloat), pctOrDash(g.RIInt8))
	}
	return tw.Flush()
}

func pctOrDash(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%+.2f%%", *p)
}

// Output files of an evaluation.
const (
	ResultsJSON   = "results.json"
	ResultsCSV    = "results.csv"
	AccLatencyPNG = "accuracy_vs_latency.png"
	PredMeasPNG   = "predicted_vs_measured.png"
)

// Write saves results.json, results.csv (one row per training) and the two
// plots into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evaluate output: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("evaluate output: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ResultsJSON), append(b, '\n')); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ResultsCSV), r.writeCSV); err != nil {
		return err
	}
	if err := r.plotAccuracy(filepath.Join(dir, AccLatencyPNG)); err != nil {
		return err
	}
	return r.plotLatency(filepath.Join(dir, PredMeasPNG))
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"method", "target_ms", "run", "run_seed", "search_seconds", "candidate", "arch", "seed",
		"predicted_ms", "measured_ms", "measured_ci_rel", "val_accuracy", "float_test_accuracy", "int8_test_accuracy", "model", "measured_rounds_ms"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for _, t := range r.Trainings {
		cw.Write([]string{t.Method, f(t.TargetMS), t.Run, strconv.FormatUint(t.RunSeed, 10), f(t.SearchSeconds), strconv.Itoa(t.Candidate),
			t.Arch, strconv.FormatUint(t.Seed, 10), f(t.PredictedMS), f(t.MeasuredMS), f(t.MeasuredCIRel),
			f(t.ValAcc), f(t.FloatAcc), f(t.Int8Acc), t.Model, joinFloats(t.MeasuredRoundsMS, f)})
	}
	cw.Flush()
	return cw.Error()
}

// methods lists the methods in first-seen order (a stable colour per method).
func (r *Report) methods() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range r.Trainings {
		if !seen[t.Method] {
			seen[t.Method] = true
			out = append(out, t.Method)
		}
	}
	return out
}

// plotAccuracy draws int8 test accuracy against measured latency, one
// series per method, with a dashed vertical line at each target.
func (r *Report) plotAccuracy(path string) error {
	fig := chart.Figure{Title: "int8 test accuracy vs measured latency", XLabel: "measured latency (ms)", YLabel: "int8 test accuracy (%)"}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range r.methods() {
		s := chart.Series{Name: m}
		for _, t := range r.Trainings {
			if t.Method == m {
				s.X, s.Y = append(s.X, t.MeasuredMS), append(s.Y, 100*t.Int8Acc)
				lo, hi = math.Min(lo, 100*t.Int8Acc), math.Max(hi, 100*t.Int8Acc)
			}
		}
		fig.Series = append(fig.Series, s)
	}
	targets := map[float64]bool{}
	for _, g := range r.Groups {
		if g.TargetMS > 0 && !targets[g.TargetMS] {
			targets[g.TargetMS] = true
			fig.Series = append(fig.Series, chart.Series{Name: fmt.Sprintf("target %.3g ms", g.TargetMS),
				X: []float64{g.TargetMS, g.TargetMS}, Y: []float64{lo, hi}, Line: true, Dashed: true})
		}
	}
	return fig.Save(path)
}

// plotLatency draws measured against predicted latency per method, with
// the identity line and a +-5% band.
func (r *Report) plotLatency(path string) error {
	fig := chart.Figure{Title: "predicted vs measured int8 latency", XLabel: "predicted latency (ms)", YLabel: "measured latency (ms)", Identity: true, Band: 0.05}
	for _, m := range r.methods() {
		s := chart.Series{Name: m}
		for _, t := range r.Trainings {
			if t.Method == m && t.PredictedMS > 0 {
				s.X, s.Y = append(s.X, t.PredictedMS), append(s.Y, t.MeasuredMS)
			}
		}
		fig.Series = append(fig.Series, s)
	}
	return fig.Save(path)
}

// joinFloats writes a list into one CSV cell, ";"-separated.
func joinFloats(v []float64, f func(float64) string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = f(x)
	}
	return strings.Join(parts, ";")
}
