// Package lut keeps latency lookup tables: one measured (or imported) latency
// per device, backend, thread count and layer key, stored in SQLite, exchanged
// as JSON/CSV, imported from other projects' published tables, and turned into
// architecture latency predictions.
//
// Predictors use the median (Stats.P50) in milliseconds: it is what the
// profiler's stopping rule makes precise, and it ignores the occasional
// preempted run that drags a mean upward. Imported Once-for-All and
// ProxylessNAS tables publish only a mean, so their mean goes into both Mean
// and P50 (and Min/Max/percentiles stay zero): those entries are usable by the
// predictors but carry no distribution.
package lut

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/space"
)

// Entry is one latency-table row: the statistics of one layer key measured on
// one device with one backend and thread count.
type Entry struct {
	Device  string `json:"device"`
	Backend string `json:"backend"`
	Threads int    `json:"threads"`
	Key     string `json:"key"`
	// Stats are in microseconds, as the profiler produces them.
	Stats profiler.Stats `json:"stats"`
	// CIRel is the half-width of the median's confidence interval relative to the median.
	CIRel float64 `json:"ci_rel"`
	// Unstable: the profiler hit its time limit before the interval was tight.
	Unstable   bool                `json:"unstable,omitempty"`
	Conditions profiler.Conditions `json:"conditions"`
	MeasuredAt time.Time           `json:"measured_at"`
	// ToolVersion is the edgenas version that measured (or imported) the entry.
	ToolVersion string `json:"tool_version"`
	// Source is empty for entries measured by edgenas and names the origin of
	// imported ones ("import:ofa-note10"), so foreign numbers never pass for
	// our own.
	Source string `json:"source,omitempty"`
}

// Millis is the latency predictors use: the median in milliseconds.
func (e Entry) Millis() float64 { return e.Stats.P50 / 1000 }

// Imported reports whether the entry came from a foreign table (a class
// entry, the median of its devices' own measurements, did not).
func (e Entry) Imported() bool {
	return e.Source != "" && !strings.HasPrefix(e.Source, ClassSourcePrefix)
}

// ClassSourcePrefix starts the Source of a class entry ("class:p1,p2").
const ClassSourcePrefix = "class:"

// FromMeasurement turns a profiler measurement of one layer into an entry;
// backend and threads come from the measurement's conditions.
//
// A measurement taken under emulation (qemu-user) goes under backend
// "NAME-emulated", so no device table, class view or predictor keyed by
// backend ever mixes emulated numbers with real ones.
func FromMeasurement(device, key string, m profiler.Measurement, at time.Time, toolVersion string) Entry {
	backend := m.Conditions.Backend
	if m.Conditions.Emulated && backend != "" {
		backend += "-emulated"
	}
	return Entry{
		Device: device, Backend: backend, Threads: m.Conditions.Threads, Key: key,
		Stats: m.Stats, CIRel: m.CIRel, Unstable: m.Unstable, Conditions: m.Conditions,
		MeasuredAt: at.UTC(), ToolVersion: toolVersion,
	}
}

// Validate checks that an entry can go into a table: identity fields set and
// statistics that are finite, non-negative and ordered.
func (e Entry) Validate() error {
	if err := validName("device", e.Device); err != nil {
		return err
	}
	if err := validName("backend", e.Backend); err != nil {
		return err
	}
	if err := validName("key", e.Key); err != nil {
		return err
	}
	if e.Threads < 1 {
		return fmt.Errorf("entry %s: threads %d must be at least 1", e.Key, e.Threads)
	}
	s := e.Stats
	if s.Count < 1 {
		return fmt.Errorf("entry %s: count %d must be at least 1", e.Key, s.Count)
	}
	vals := []struct {
		name string
		v    float64
	}{{"min", s.Min}, {"p10", s.P10}, {"p50", s.P50}, {"p90", s.P90}, {"max", s.Max},
		{"mean", s.Mean}, {"std", s.Std}, {"mad", s.MAD}, {"cv", s.CV}, {"ci_rel", e.CIRel}}
	for _, f := range vals {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("entry %s: %s %g must be finite and non-negative", e.Key, f.name, f.v)
		}
	}
	if s.P50 <= 0 {
		return fmt.Errorf("entry %s: p50 %g must be positive", e.Key, s.P50)
	}
	if err := e.validDelegate(); err != nil {
		return err
	}
	// Imported entries have only a mean, so the order check applies only
	// where a distribution was recorded.
	if s.Max > 0 && !(s.Min <= s.P10 && s.P10 <= s.P50 && s.P50 <= s.P90 && s.P90 <= s.Max) {
		return fmt.Errorf("entry %s: statistics out of order (min %g p10 %g p50 %g p90 %g max %g)",
			e.Key, s.Min, s.P10, s.P50, s.P90, s.Max)
	}
	return nil
}

// Delegation says how the entry's TFLite delegate took the graph
// ("nnapi, partial, 62 of 64 nodes in 3 partitions"), or "-" for entries not
// timed through a delegate.
func (e Entry) Delegation() string {
	if e.Conditions.Delegate == nil {
		return "-"
	}
	return benchmodel.DescribeDelegation(e.Conditions.Delegate)
}

// validDelegate: an entry timed by TFLite's benchmark_model must say which
// delegate ran it, and that delegate must be the one its backend names, so
// a table labelled NNAPI never holds CPU timings.
func (e Entry) validDelegate() error {
	d := e.Conditions.Delegate
	backend := strings.TrimSuffix(e.Backend, "-emulated")
	if !strings.HasPrefix(backend, benchmodel.Backend+"-") {
		if d != nil {
			return fmt.Errorf("entry %s: backend %s is not benchmark_model's but records delegate %s", e.Key, e.Backend, d.Name)
		}
		return nil
	}
	if d == nil {
		return fmt.Errorf("entry %s: backend %s records no delegate", e.Key, e.Backend)
	}
	if want := benchmodel.BackendName(d.Name); want != backend {
		return fmt.Errorf("entry %s: backend %s but delegate %s (backend %s)", e.Key, e.Backend, d.Name, want)
	}
	switch d.Mode {
	case benchmodel.ModeComplete, benchmodel.ModePartial, "unknown":
	default:
		return fmt.Errorf("entry %s: delegate %s mode %q (want complete, partial or unknown)", e.Key, d.Name, d.Mode)
	}
	return nil
}

func validName(what, v string) error {
	if v == "" {
		return fmt.Errorf("entry: %s is empty", what)
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("entry: %s %q contains whitespace or control characters", what, v)
		}
	}
	return nil
}

// Device is a measured machine: Class groups devices of the same kind (a
// phone model, a board revision) so their tables can be merged.
type Device struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	// Description is free-form JSON (CPU, OS, firmware...).
	Description []byte `json:"description,omitempty"`
}

// Table is an in-memory view of one device's (or class's) table for one
// backend and thread count: what predictors read. It can be built from a
// Store (Store.View) or directly from a map, for foreign tables and tests.
type Table struct {
	Device  string
	Backend string
	Threads int
	// Class is set on a class table (ClassView): Device then holds the
	// class name and every entry is the median over the class's devices.
	Class   string
	Entries map[string]Entry
}

// NewTable builds a table from entries keyed by their Key; two entries with
// the same key are an error.
func NewTable(device, backend string, threads int, entries []Entry) (*Table, error) {
	t := &Table{Device: device, Backend: backend, Threads: threads, Entries: make(map[string]Entry, len(entries))}
	for _, e := range entries {
		if _, dup := t.Entries[e.Key]; dup {
			return nil, fmt.Errorf("table %s/%s/%d: key %s appears twice", device, backend, threads, e.Key)
		}
		t.Entries[e.Key] = e
	}
	return t, nil
}

// TableFromMillis builds a table from key -> milliseconds, each value becoming
// an entry with Count 1 and Mean = P50 (a table with no distribution, like
// the published ones). source names where the numbers came from.
func TableFromMillis(device, backend string, threads int, source string, ms map[string]float64) (*Table, error) {
	t := &Table{Device: device, Backend: backend, Threads: threads, Entries: make(map[string]Entry, len(ms))}
	for k, v := range ms {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return nil, fmt.Errorf("table %s: key %s: latency %g ms must be positive and finite", device, k, v)
		}
		t.Entries[k] = Entry{Device: device, Backend: backend, Threads: threads, Key: k,
			Stats: profiler.Stats{Count: 1, P50: v * 1000, Mean: v * 1000}, Source: source}
	}
	return t, nil
}

// Lookup returns the entry for key.
func (t *Table) Lookup(key string) (Entry, bool) {
	e, ok := t.Entries[key]
	return e, ok
}

// Millis returns the predictor latency (median, ms) for key.
func (t *Table) Millis(key string) (float64, bool) {
	e, ok := t.Entries[key]
	return e.Millis(), ok
}

// Len is the number of keys in the table.
func (t *Table) Len() int { return len(t.Entries) }

// Missing returns the keys of want (skips excluded) that the table lacks, in
// the order given and without repeats: what the profiler still has to measure.
func (t *Table) Missing(want []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range want {
		if k == "skip" || seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := t.Entries[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// LegacySE counts the entries keyed by an SE encoding older than
// space.SEEncoding: measured on other operators than edgenas now writes,
// they are never looked up.
func (t *Table) LegacySE() int {
	n := 0
	for k := range t.Entries {
		if space.IsLegacySEKey(k) {
			n++
		}
	}
	return n
}

// String names the table for error messages.
func (t *Table) String() string {
	return fmt.Sprintf("%s/%s/%dt", t.Device, t.Backend, t.Threads)
}

// sourceTag normalises a caller-given import name into a Source value.
func sourceTag(name string) string {
	if strings.HasPrefix(name, "import:") {
		return name
	}
	return "import:" + name
}
