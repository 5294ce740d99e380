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
	// RIFloatCI and RIInt8CI are the RIs' percentile bootstrap 95% intervals
	// (bootstrapRI: architectures resampled, BootstrapResamples times from
	// BootstrapSeed); absent with the RI.
	RIFloatCI *Interval `json:"ri_float_ci95,omitempty"`
	RIInt8CI  *Interval `json:"ri_int8_ci95,omitempty"`
	// BaselineMS is the target of the random group the RIs compare with:
	// the group's own target, or with latency matching the random group
	// nearest the group's mean predicted latency. Absent with the RI.
	BaselineMS float64 `json:"ri_baseline_target_ms,omitempty"`
}

// MatchTol is how far (relative) a random group's mean predicted latency
// may lie from a method group's for Summarize with matchLatency to compare
// them: the random baseline's own sampling band.
const MatchTol = 0.05

// Report is an evaluation's outcome.
type Report struct {
	Groups    []Group     `json:"groups"`
	Trainings []*Training `json:"trainings"`
	// MeasuredOn says where the int8 latencies were timed ("host NAME", or
	// a device class and its devices).
	MeasuredOn string `json:"measured_on,omitempty"`
}

// Summarize groups trainings by (method, target) and computes each group's
// statistics and RI, with its bootstrap interval, against the random group
// of its target, or with matchLatency against the random group whose mean
// predicted latency is nearest the group's (within MatchTol): a method that
// lands well under its target (AutoShrink's discrete steps) is then judged
// against random architectures as fast as its picks, not as fast as allowed.
func Summarize(ts []*Training, matchLatency bool) *Report {
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
		r, ok := baseline(rep.Groups, *g, matchLatency)
		if !ok {
			continue
		}
		m, rnd := unitsOf(byKey[key{g.Method, g.TargetMS}]), unitsOf(byKey[key{r.Method, r.TargetMS}])
		g.RIFloat, g.RIFloatCI = riWithCI(g.FloatAcc.Mean, r.FloatAcc.Mean, m, rnd, false)
		g.RIInt8, g.RIInt8CI = riWithCI(g.Int8Acc.Mean, r.Int8Acc.Mean, m, rnd, true)
		if g.RIFloat != nil {
			g.BaselineMS = r.TargetMS
		}
	}
	return rep
}

// baseline is the random group g is compared with: the one of g's target,
// or with match the one whose mean predicted latency is nearest g's, if
// within MatchTol of it.
func baseline(groups []Group, g Group, match bool) (Group, bool) {
	best, gap := Group{}, math.Inf(1)
	for _, r := range groups {
		if r.Method != "random" {
			continue
		}
		if !match {
			if r.TargetMS == g.TargetMS {
				return r, true
			}
			continue
		}
		if d := math.Abs(r.PredictedMS.Mean/g.PredictedMS.Mean - 1); d < gap {
			best, gap = r, d
		}
	}
	return best, gap <= MatchTol
}

// riWithCI is the RI of mean accuracy m over random's r and its bootstrap
// 95% interval; nil without a positive random accuracy.
func riWithCI(m, r float64, method, random []unit, int8 bool) (*float64, *Interval) {
	if !(r > 0) {
		return nil, nil
	}
	v := ri(m, r)
	iv, err := bootstrapRI(method, random, int8, 0.95, BootstrapResamples, BootstrapSeed)
	if err != nil {
		// Only a random group whose resamples all have zero accuracy gets
		// here; the RI stands without an interval.
		return &v, nil
	}
	return &v, &iv
}

// Print writes the per-group table.
func (r *Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tTARGET MS\tRUNS\tN\tFLOAT ACC %\tINT8 ACC %\tPRED MS (ERR)\tMEAS MS (ERR)\tSEARCH S\tRI FLOAT [95% CI]\tRI INT8 [95% CI]\tVS RANDOM AT")
	for _, g := range r.Groups {
		search := "n/a"
		if g.SearchSeconds > 0 {
			search = fmt.Sprintf("%.3g", g.SearchSeconds)
		}
		vs := "-"
		if g.BaselineMS > 0 {
			vs = fmt.Sprintf("%.3g ms", g.BaselineMS)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%d\t%d\t%.2f +- %.2f\t%.2f +- %.2f\t%.3f (%+.1f%%)\t%.3f (%+.1f%%)\t%s\t%s\t%s\t%s\n",
			g.Method, g.TargetMS, g.Runs, g.N, 100*g.FloatAcc.Mean, 100*g.FloatAcc.Std, 100*g.Int8Acc.Mean, 100*g.Int8Acc.Std,
			g.PredictedMS.Mean, g.PredictedErrPct, g.MeasuredMS.Mean, g.MeasuredErrPct, search, riCell(g.RIFloat, g.RIFloatCI), riCell(g.RIInt8, g.RIInt8CI), vs)
	}
	return tw.Flush()
}

// riCell formats an RI and its interval, "-" without an RI.
func riCell(p *float64, iv *Interval) string {
	switch {
	case p == nil:
		return "-"
	case iv == nil:
		return fmt.Sprintf("%+.2f%%", *p)
	}
	return fmt.Sprintf("%+.2f%% [%+.2f, %+.2f]", *p, iv.Lo, iv.Hi)
}

// Output files of an evaluation.
const (
	ResultsJSON   = "results.json"
	ResultsCSV    = "results.csv"
	SummaryCSV    = "summary.csv"
	RIPNG         = "ri.png"
	AccLatencyPNG = "accuracy_vs_latency.png"
	PredMeasPNG   = "predicted_vs_measured.png"
)

// Write saves results.json, results.csv (one row per training),
// summary.csv (one row per group, with the RIs and their intervals) and the
// three plots into dir.
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
	if err := atomicfile.Write(filepath.Join(dir, SummaryCSV), r.writeSummaryCSV); err != nil {
		return err
	}
	if err := r.plotAccuracy(filepath.Join(dir, AccLatencyPNG)); err != nil {
		return err
	}
	if err := r.plotRI(filepath.Join(dir, RIPNG)); err != nil {
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

// writeSummaryCSV writes one row per group; RI cells are empty where the
// group has none (random itself, or no random group at its target).
func (r *Report) writeSummaryCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"method", "target_ms", "runs", "archs", "n", "float_test_accuracy_mean", "float_test_accuracy_std",
		"int8_test_accuracy_mean", "int8_test_accuracy_std", "predicted_ms", "measured_ms", "predicted_err_pct", "measured_err_pct",
		"search_seconds", "ri_float_pct", "ri_float_ci95_lo", "ri_float_ci95_hi", "ri_int8_pct", "ri_int8_ci95_lo", "ri_int8_ci95_hi",
		"ri_baseline_target_ms"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	riCells := func(p *float64, iv *Interval) []string {
		out := []string{"", "", ""}
		if p != nil {
			out[0] = f(*p)
		}
		if iv != nil {
			out[1], out[2] = f(iv.Lo), f(iv.Hi)
		}
		return out
	}
	for _, g := range r.Groups {
		row := []string{g.Method, f(g.TargetMS), strconv.Itoa(g.Runs), strconv.Itoa(g.Archs), strconv.Itoa(g.N),
			f(g.FloatAcc.Mean), f(g.FloatAcc.Std), f(g.Int8Acc.Mean), f(g.Int8Acc.Std), f(g.PredictedMS.Mean), f(g.MeasuredMS.Mean),
			f(g.PredictedErrPct), f(g.MeasuredErrPct), f(g.SearchSeconds)}
		row = append(append(row, riCells(g.RIFloat, g.RIFloatCI)...), riCells(g.RIInt8, g.RIInt8CI)...)
		base := ""
		if g.BaselineMS > 0 {
			base = f(g.BaselineMS)
		}
		cw.Write(append(row, base))
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

// plotRI draws each method's int8 RI against its target with the bootstrap
// 95% interval as a vertical bar, and a dashed line at 0 (random's mean).
// Points carry their method's name beside them instead of a legend, which
// would sit over the data; methods are offset slightly along x so that
// bars at one target do not overlap.
func (r *Report) plotRI(path string) error {
	fig := chart.Figure{Title: "int8 accuracy RI vs random, bootstrap 95% interval", XLabel: "latency target (ms)",
		YLabel: "RI of mean int8 test accuracy (%), 0 = random", NoLegend: true}
	lo, hi := math.Inf(1), math.Inf(-1)
	var methods []string
	for _, m := range r.methods() {
		if m != "random" {
			methods = append(methods, m)
		}
	}
	for _, g := range r.Groups {
		if g.RIInt8 != nil {
			lo, hi = math.Min(lo, g.TargetMS), math.Max(hi, g.TargetMS)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	span := hi - lo
	if span == 0 {
		span = math.Max(hi, 1e-3)
	}
	for mi, m := range methods {
		off := span * 0.04 * (float64(mi) - float64(len(methods)-1)/2)
		pts := chart.Series{Name: m, Color: mi + 1}
		for _, g := range r.Groups {
			if g.Method != m || g.RIInt8 == nil {
				continue
			}
			x := g.TargetMS + off
			pts.X, pts.Y = append(pts.X, x), append(pts.Y, *g.RIInt8)
			pts.Labels = append(pts.Labels, fmt.Sprintf("%s %+.2f%%", m, *g.RIInt8))
			if iv := g.RIInt8CI; iv != nil {
				fig.Series = append(fig.Series, chart.Series{X: []float64{x, x}, Y: []float64{iv.Lo, iv.Hi}, Line: true, Color: mi + 1})
			}
		}
		fig.Series = append(fig.Series, pts)
	}
	// The zero line also widens the x range so the outer bars and their
	// labels stay inside the plot.
	fig.Series = append(fig.Series, chart.Series{X: []float64{lo - 0.25*span, hi + 0.35*span}, Y: []float64{0, 0},
		Line: true, Dashed: true, Color: len(methods) + 1})
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
