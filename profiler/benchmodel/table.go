package benchmodel

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// OpRow is one row of a Run Order or Top by Computation Time table. Times are
// in milliseconds, as the tool prints them; Start is printed by older builds
// only (HasStart on the table).
type OpRow struct {
	Type        string  `json:"type"`
	StartMs     float64 `json:"start_ms,omitempty"`
	FirstMs     float64 `json:"first_ms"`
	AvgMs       float64 `json:"avg_ms"`
	Percent     float64 `json:"percent"`
	CDF         float64 `json:"cdf_percent"`
	MemKB       float64 `json:"mem_kb"`
	TimesCalled int     `json:"times_called"`
	Name        string  `json:"name"`
}

// TypeRow is one row of the Summary by node type table.
type TypeRow struct {
	Type        string  `json:"type"`
	Count       int     `json:"count"`
	AvgMs       float64 `json:"avg_ms"`
	Percent     float64 `json:"percent"`
	CDF         float64 `json:"cdf_percent"`
	MemKB       float64 `json:"mem_kb"`
	TimesCalled int     `json:"times_called"`
}

// Profile is one op-profiling section.
type Profile struct {
	HasStart      bool      `json:"has_start,omitempty"`
	RunOrder      []OpRow   `json:"run_order,omitempty"`
	TopByTime     []OpRow   `json:"top_by_time,omitempty"`
	ByType        []TypeRow `json:"by_type,omitempty"`
	NodesExecuted int       `json:"nodes_executed,omitempty"`
	NodesObserved int       `json:"nodes_observed,omitempty"`
	// Timings is the profiler's "Timings (microseconds): count=..." line.
	Timings *Timing `json:"timings,omitempty"`
	// Subgraphs are the tables of the model's other subgraphs ("Subgraph
	// (index: N) profile:"); DelegateInternal those of the operators inside
	// a delegate ("Delegate internal:"), when the tool prints them.
	Subgraphs        []*Profile `json:"subgraphs,omitempty"`
	DelegateInternal *Profile   `json:"delegate_internal,omitempty"`
}

// Table names as the tool prints them between the ===== rulers.
const (
	tableRunOrder = "Run Order"
	tableTop      = "Top by Computation Time"
	tableByType   = "Summary by node type"
)

// Cells are separated by tabs (raw output), runs of spaces (copied from a
// terminal) or ", " (the CSV file). The type column may itself contain spaces
// and commas ("Convolution (NHWC, QC8) GEMM"), so rows are matched with the
// numeric columns as anchors rather than split.
const (
	sep = `,?[ \t]+`
	num = `([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf))`
	pct = num + `%`
	cnt = `(\d+)`
)

var (
	opRowRe       = regexp.MustCompile(`^[ \t]*(\S.*?)` + sep + num + sep + num + sep + pct + sep + pct + sep + num + sep + cnt + `(?:,?[ \t]+(.*))?$`)
	opRowStartRe  = regexp.MustCompile(`^[ \t]*(\S.*?)` + sep + num + sep + num + sep + num + sep + pct + sep + pct + sep + num + sep + cnt + `(?:,?[ \t]+(.*))?$`)
	typeRowRe     = regexp.MustCompile(`^[ \t]*(\S.*?)` + sep + cnt + sep + num + sep + pct + sep + pct + sep + num + sep + cnt + `[ \t]*$`)
	rulerRe       = regexp.MustCompile(`^=+ (.+?) =+$`)
	nodesExecRe   = regexp.MustCompile(`^Number of nodes executed: (\d+)$`)
	nodesObsRe    = regexp.MustCompile(`^(\d+) nodes observed$`)
	profTimingsRe = regexp.MustCompile(`^Timings \(microseconds\): (count=.*)$`)
)

// tableState tracks which table of which profile section the parser is in.
type tableState struct {
	prof  *Profile
	table string // "" outside a table
	csv   bool   // the header was the CSV one
	seen  bool   // the header line was read
}

// profileLine handles a line inside a profiling section; it reports whether
// the line belonged to the section.
func (ts *tableState) profileLine(line string) (bool, error) {
	if ts.prof == nil {
		return false, nil
	}
	if m := rulerRe.FindStringSubmatch(line); m != nil {
		ts.table, ts.seen, ts.csv = m[1], false, false
		return true, nil
	}
	if m := nodesExecRe.FindStringSubmatch(line); m != nil {
		ts.table = ""
		ts.prof.NodesExecuted, _ = strconv.Atoi(m[1])
		return true, nil
	}
	if m := nodesObsRe.FindStringSubmatch(line); m != nil {
		ts.table = ""
		ts.prof.NodesObserved, _ = strconv.Atoi(m[1])
		return true, nil
	}
	if m := profTimingsRe.FindStringSubmatch(line); m != nil {
		ts.table = ""
		t, err := parseCounts(m[1])
		if err != nil {
			return true, fmt.Errorf("profile timings: %w", err)
		}
		ts.prof.Timings = t
		return true, nil
	}
	if strings.HasPrefix(line, "Memory (bytes):") {
		ts.table = ""
		return true, nil
	}
	if ts.table == "" {
		return false, nil
	}
	if strings.TrimSpace(line) == "" {
		ts.table = ""
		return true, nil
	}
	if !ts.seen {
		ts.seen = true
		if isHeader(line) {
			ts.csv = !strings.Contains(line, "[")
			if strings.Contains(line, "start") {
				ts.prof.HasStart = true
			}
			return true, nil
		}
	}
	return true, ts.row(line)
}

func isHeader(line string) bool {
	l := strings.ToLower(line)
	return strings.Contains(l, "node type") && (strings.Contains(l, "avg ms") || strings.Contains(l, "avg_ms"))
}

// row parses one table row into the current table.
func (ts *tableState) row(line string) error {
	switch ts.table {
	case tableByType:
		m := typeRowRe.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("%s row not understood: %q", ts.table, clip(line))
		}
		f, err := floats(m[3:7])
		if err != nil {
			return fmt.Errorf("%s row %q: %w", ts.table, clip(line), err)
		}
		tr := TypeRow{Type: strings.TrimSpace(m[1]), Count: atoi(m[2]), AvgMs: f[0], Percent: f[1], CDF: f[2], MemKB: f[3],
			TimesCalled: atoi(m[7])}
		ts.prof.ByType = append(ts.prof.ByType, tr)
		return nil
	case tableRunOrder, tableTop:
		re, nf := opRowRe, 5
		if ts.prof.HasStart {
			re, nf = opRowStartRe, 6
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("%s row not understood: %q", ts.table, clip(line))
		}
		f, err := floats(m[2 : 2+nf])
		if err != nil {
			return fmt.Errorf("%s row %q: %w", ts.table, clip(line), err)
		}
		if ts.prof.HasStart {
			f = f[1:]
		}
		r := OpRow{Type: strings.TrimSpace(m[1]), FirstMs: f[0], AvgMs: f[1], Percent: f[2], CDF: f[3], MemKB: f[4],
			TimesCalled: atoi(m[2+nf]), Name: strings.TrimSpace(m[3+nf])}
		if ts.prof.HasStart {
			r.StartMs, _ = strconv.ParseFloat(m[2], 64)
		}
		if ts.csv {
			// The CSV writer turns commas in node names into tabs.
			r.Name = strings.ReplaceAll(r.Name, "\t", ",")
		}
		if ts.table == tableRunOrder {
			ts.prof.RunOrder = append(ts.prof.RunOrder, r)
		} else {
			ts.prof.TopByTime = append(ts.prof.TopByTime, r)
		}
		return nil
	}
	// Tables this parser does not model ("Top by Memory Use") are skipped.
	return nil
}

func floats(ss []string) ([]float64, error) {
	out := make([]float64, len(ss))
	for i, s := range ss {
		v, err := parseNum(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func atoi(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return v
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
