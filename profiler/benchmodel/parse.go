package benchmodel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Limits on what Parse reads, so a runaway or hostile transcript cannot
// exhaust memory.
const (
	// MaxBytes is the largest transcript Parse accepts.
	MaxBytes = 16 << 20
	// maxLine is the longest line (op names of fused partitions are long).
	maxLine = 1 << 20
	// maxRows bounds the rows kept over all profile tables.
	maxRows = 200000
	// maxNotes bounds the warnings and errors kept.
	maxNotes = 1000
)

var (
	paramRe       = regexp.MustCompile(`^([A-Za-z#][^:\[\]]*?) ?: \[(.*)\]$`)
	replacingRe   = regexp.MustCompile(`Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \(([^)]*)\) node, yielding (\d+) partitions`)
	appliedRe     = regexp.MustCompile(`^Explicitly applied (\S+) delegate, and the model graph will be (completely|partially) executed by the delegate(?: w/ (\d+) delegate kernels)?`)
	notAppliedRe  = regexp.MustCompile(`^Though (\S+) delegate is explicitly applied, the model graph will not be executed by the delegate`)
	createdForRe  = regexp.MustCompile(`^Created TensorFlow Lite (?:(\S+) )?delegate for (\S+?)\.?$`)
	createdRe     = regexp.MustCompile(`^(\S+) delegate created\.$`)
	goingToRe     = regexp.MustCompile(`^Going to apply (\d+) delegates`)
	gpuKernelsRe  = regexp.MustCompile(`^Created (\d+) GPU delegate kernels`)
	gpuSplitRe    = regexp.MustCompile(`^(\d+) operations will run on the GPU, and the remaining (\d+) operations? will run on the CPU`)
	hexagonRe     = regexp.MustCompile(`^Hexagon delegate: (\d+) nodes delegated out of (\d+) nodes with (\d+) partitions`)
	failedApplyRe = regexp.MustCompile(`^Failed to apply (\S+) delegate`)
	unsupportedRe = regexp.MustCompile(`^(\S+) acceleration is unsupported on this platform|^Could not create (\S+) delegate|^(\S+) Delegate is not supported|^Unconsumed cmdline flags`)
	modelSizeRe   = regexp.MustCompile(`^The input model file size \(MB\): (\S+)$`)
	initSessRe    = regexp.MustCompile(`^Initialized session in (\S+?)ms\.?$`)
	summaryRe     = regexp.MustCompile(`^(?:Average )?[Ii]nference timings in us: (.*)$`)
	memDeltaRe    = regexp.MustCompile(`^Memory footprint delta from the start of the tool \(MB\): init=(\S+) overall=(\S+)$`)
	memPeakRe     = regexp.MustCompile(`^Peak memory footprint \(MB\): init=(\S+) overall=(\S+)$`)
	subgraphRe    = regexp.MustCompile(`^Subgraph \(index: \d+\) (?:profile|summary):$`)
	memPeriodicRe = regexp.MustCompile(`^Overall peak memory footprint \(MB\) via periodic monitoring: (\S+)$`)
)

var levelPrefixes = []string{"INFO: ", "VERBOSE: ", "WARNING: ", "ERROR: "}

// Parse reads a benchmark_model transcript (stderr and stdout together, as
// saved by `2>&1 | tee`), or the file written by --profiling_output_csv_file.
// It returns what it read even when the run failed; whether the run
// succeeded is Result.Err. An error from Parse itself means the text could
// not be read as benchmark_model output at all.
func Parse(r io.Reader) (*Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read transcript: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("transcript is larger than %d bytes", MaxBytes)
	}
	p := &parser{res: &Result{Params: map[string]string{}, DelegatesApplied: -1}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := p.line(sc.Text()); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d is longer than %d bytes", n+1, maxLine)
		}
		return nil, fmt.Errorf("read transcript: %w", err)
	}
	if !p.recognized {
		return nil, errors.New("no benchmark_model output found (no STARTING!, timings, delegate or profile lines)")
	}
	return p.res, nil
}

type parser struct {
	res        *Result
	section    *Profile // the profiling section being read
	phase      int      // "Running benchmark for at least" lines seen
	tables     tableState
	rows       int
	recognized bool
}

func (p *parser) line(raw string) error {
	line := strings.TrimRight(raw, "\r")
	level := ""
	for _, pre := range levelPrefixes {
		if strings.HasPrefix(line, pre) {
			level, line = strings.TrimSuffix(pre, ": "), line[len(pre):]
			p.res.Prefixed = true
			break
		}
	}
	// Profiling sections start on a line of their own and run until the next
	// section or the next non-table line.
	switch trimmed := strings.TrimSpace(line); {
	case trimmed == "Profiling Info for Benchmark Initialization:":
		p.res.InitProfile = &Profile{}
		p.section, p.tables = p.res.InitProfile, tableState{prof: p.res.InitProfile}
		p.recognized = true
		return nil
	case trimmed == "Operator-wise Profiling Info for Regular Benchmark Runs:":
		p.res.RunProfile = &Profile{}
		p.section, p.tables = p.res.RunProfile, tableState{prof: p.res.RunProfile}
		p.recognized = true
		return nil
	case p.section != nil && trimmed == "Primary graph profile:":
		p.tables = tableState{prof: p.section}
		return nil
	case p.section != nil && trimmed == "Delegate internal:":
		p.section.DelegateInternal = &Profile{}
		p.tables = tableState{prof: p.section.DelegateInternal}
		return nil
	case p.section != nil && subgraphRe.MatchString(trimmed):
		sub := &Profile{}
		if len(p.section.Subgraphs) < maxNotes {
			p.section.Subgraphs = append(p.section.Subgraphs, sub)
		}
		p.tables = tableState{prof: sub}
		return nil
	}
	if p.tables.prof == nil && rulerRe.MatchString(line) {
		// Tables with no section title before them (a profile cut down to
		// its tables) are taken as the regular runs'.
		p.res.RunProfile = &Profile{}
		p.section, p.tables = p.res.RunProfile, tableState{prof: p.res.RunProfile}
		p.recognized = true
	}
	before := p.tables.prof.rows()
	ok, err := p.tables.profileLine(line)
	if err != nil {
		return err
	}
	if ok {
		p.rows += p.tables.prof.rows() - before
		if p.rows > maxRows {
			return fmt.Errorf("more than %d profile rows", maxRows)
		}
		return nil
	}
	return p.statement(level, line)
}

// rows counts the table rows of a profile (for the row limit).
func (p *Profile) rows() int {
	if p == nil {
		return 0
	}
	return len(p.RunOrder) + len(p.TopByTime) + len(p.ByType)
}

// statement handles every line outside the profile tables.
func (p *parser) statement(level, line string) error {
	r := p.res
	note := func(list *[]string) {
		if len(*list) < maxNotes {
			*list = append(*list, line)
		}
	}
	switch level {
	case "WARNING":
		note(&r.Warnings)
	case "ERROR":
		if strings.TrimSpace(line) != "" {
			note(&r.Errors)
		}
	}
	switch {
	case line == "STARTING!":
		p.recognized = true
	case strings.HasPrefix(line, "Running benchmark for at least"):
		p.phase++
		p.recognized = true
	case strings.HasPrefix(line, "count="):
		t, err := parseCounts(line)
		if err != nil {
			return err
		}
		p.recognized = true
		if p.phase <= 1 && r.Warmup == nil {
			r.Warmup = t
		} else {
			r.Inference = t
		}
	case line == "Benchmarking failed.":
		r.Failed = true
		if level == "" {
			note(&r.Errors)
		}
	default:
		return p.delegation(level, line)
	}
	return nil
}

// delegation handles the lines about delegates, and the remaining summaries.
func (p *parser) delegation(level, line string) error {
	r := p.res
	if m := paramRe.FindStringSubmatch(line); m != nil {
		if len(r.Params) < maxNotes {
			r.Params[m[1]] = m[2]
		}
		if m[1] == "NNAPI accelerators available" && m[2] != "" {
			r.Accelerators = strings.Split(m[2], ",")
		}
		return nil
	}
	if m := replacingRe.FindStringSubmatch(line); m != nil {
		p.recognized = true
		if len(r.Replacements) < maxNotes {
			r.Replacements = append(r.Replacements, Replacement{Delegate: m[3], Replaced: atoi(m[1]), Total: atoi(m[2]), Partitions: atoi(m[4])})
		}
		return nil
	}
	if m := appliedRe.FindStringSubmatch(line); m != nil {
		mode := ModeComplete
		if m[2] == "partially" {
			mode = ModePartial
		}
		r.Applications = append(r.Applications, Application{Delegate: m[1], Mode: mode, Kernels: atoi(m[3])})
		return nil
	}
	if m := notAppliedRe.FindStringSubmatch(line); m != nil {
		r.Applications = append(r.Applications, Application{Delegate: m[1], Mode: ModeNone})
		return nil
	}
	if m := createdForRe.FindStringSubmatch(line); m != nil {
		name := m[2]
		if m[1] != "" {
			name = m[1] // "Created TensorFlow Lite XNNPACK delegate for CPU."
		}
		r.addCreated(name)
		return nil
	}
	if m := createdRe.FindStringSubmatch(line); m != nil {
		r.addCreated(m[1])
		return nil
	}
	if m := failedApplyRe.FindStringSubmatch(line); m != nil {
		r.Failed, r.FailedDelegate = true, m[1]
		if level == "" {
			r.Errors = append(r.Errors, line)
		}
		return nil
	}
	if unsupportedRe.MatchString(line) && level == "" && len(r.Warnings) < maxNotes {
		r.Warnings = append(r.Warnings, line)
	}
	return p.figures(line)
}

func (r *Result) addCreated(name string) {
	for _, c := range r.Created {
		if c == name {
			return
		}
	}
	if len(r.Created) < maxNotes {
		r.Created = append(r.Created, name)
	}
}

// figures reads the single-number lines: sizes, memory, the summary.
func (p *parser) figures(line string) error {
	r := p.res
	var err error
	switch m := matchAny(line, goingToRe, gpuKernelsRe, gpuSplitRe, hexagonRe); {
	case m.re == goingToRe:
		r.DelegatesApplied = atoi(m.sub[1])
	case m.re == gpuKernelsRe:
		r.GPUKernels = atoi(m.sub[1])
	case m.re == gpuSplitRe:
		r.GPUOps, r.CPUOps = atoi(m.sub[1]), atoi(m.sub[2])
	case m.re == hexagonRe:
		p.recognized = true
		r.Hexagon = &Replacement{Delegate: "Hexagon", Replaced: atoi(m.sub[1]), Total: atoi(m.sub[2]), Partitions: atoi(m.sub[3])}
	}
	if m := modelSizeRe.FindStringSubmatch(line); m != nil {
		r.ModelMB, err = parseNum(m[1])
	} else if m := initSessRe.FindStringSubmatch(line); m != nil {
		r.InitSessionMs, err = parseNum(m[1])
	} else if m := summaryRe.FindStringSubmatch(line); m != nil {
		p.recognized = true
		r.Summary, err = parseSummary(m[1])
	} else if m := memDeltaRe.FindStringSubmatch(line); m != nil {
		r.Memory, err = parseMemory("delta", m[1], m[2], r.Memory)
	} else if m := memPeakRe.FindStringSubmatch(line); m != nil {
		r.Memory, err = parseMemory("peak", m[1], m[2], r.Memory)
	} else if m := memPeriodicRe.FindStringSubmatch(line); m != nil {
		if r.Memory == nil {
			r.Memory = &Memory{Kind: "delta"}
		}
		r.Memory.PeakMB, err = parseNum(m[1])
	}
	if err != nil {
		return fmt.Errorf("%q: %w", clip(line), err)
	}
	return nil
}

type match struct {
	re  *regexp.Regexp
	sub []string
}

func matchAny(line string, res ...*regexp.Regexp) match {
	for _, re := range res {
		if m := re.FindStringSubmatch(line); m != nil {
			return match{re, m}
		}
	}
	return match{}
}

func parseMemory(kind, init, overall string, prev *Memory) (*Memory, error) {
	m := &Memory{Kind: kind}
	if prev != nil {
		m.PeakMB = prev.PeakMB
	}
	var err error
	if m.InitMB, err = parseNum(init); err != nil {
		return nil, err
	}
	if m.OverallMB, err = parseNum(overall); err != nil {
		return nil, err
	}
	return m, nil
}

// eachPair calls set with the key and value of every item "KEY<sep>VALUE".
func eachPair(what string, items []string, sep string, set func(k, v string) error) error {
	for _, item := range items {
		k, v, ok := strings.Cut(item, sep)
		if !ok {
			return fmt.Errorf("%s item %q has no value", what, item)
		}
		if err := set(k, v); err != nil {
			return fmt.Errorf("%s %s: %w", what, k, err)
		}
	}
	return nil
}

// parseSummary reads "Init: I, First inference: F, Warmup (avg): W,
// Inference (avg): A" and the older "Warmup: W, Init: I, Inference: A".
func parseSummary(s string) (*Summary, error) {
	var out Summary
	fields := map[string]*float64{"Init": &out.InitUs, "First inference": &out.FirstUs, "Warmup (avg)": &out.WarmupAvgUs,
		"Warmup": &out.WarmupAvgUs, "Inference (avg)": &out.AvgUs, "Inference": &out.AvgUs}
	err := eachPair("summary", strings.Split(s, ", "), ": ", func(k, v string) error {
		f, err := parseNum(v)
		if err != nil {
			return err
		}
		if dst, ok := fields[k]; ok {
			*dst = f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Pre-2.0 builds print "Warmup: W, Init: I, no stats: X": no inference
	// average (AvgUs stays 0); the timings are in the count lines.
	return &out, nil
}

// parseCounts reads "count=N first=F curr=C min=m max=M avg=A std=S [p5=..
// median=.. p95=..]" and the degenerate "count=N curr=X(all same)" and
// "count=1 curr=X".
func parseCounts(s string) (*Timing, error) {
	t := &Timing{}
	hasCount := false
	if strings.Contains(s, "(all same)") {
		s, t.AllSame = strings.ReplaceAll(s, "(all same)", ""), true
	}
	fields := map[string]*float64{"first": &t.First, "curr": &t.Curr, "min": &t.Min, "max": &t.Max, "avg": &t.Avg,
		"std": &t.Std, "p5": &t.P5, "median": &t.Median, "p95": &t.P95}
	err := eachPair("timing", strings.Fields(s), "=", func(k, v string) error {
		if k == "count" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a count", v)
			}
			t.Count, hasCount = n, true
			return nil
		}
		f, err := parseNum(v)
		if err != nil {
			return err
		}
		if dst, ok := fields[k]; ok {
			*dst = f
			t.HasPercentiles = t.HasPercentiles || k == "p5" || k == "median" || k == "p95"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !hasCount {
		return nil, fmt.Errorf("timing line %q has no count", clip(s))
	}
	// With a single run, or identical runs, the tool prints only curr.
	if t.Max == 0 && t.Avg == 0 && t.Curr > 0 {
		t.Min, t.Max, t.Avg = t.Curr, t.Curr, t.Curr
		if t.First == 0 {
			t.First = t.Curr
		}
		if t.AllSame {
			t.P5, t.Median, t.P95 = t.Curr, t.Curr, t.Curr
		}
	}
	return t, nil
}

// parseNum reads a printed number, also in exponent form; it must be finite.
func parseNum(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}
