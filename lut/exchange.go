package lut

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"edgenas/profiler"
)

// exchangeFormat names edgenas's JSON table files so a reader can refuse
// something else that happens to be JSON.
const exchangeFormat = "edgenas-lut"

type jsonFile struct {
	Format  string  `json:"format"`
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// WriteJSON writes entries as one JSON document.
func WriteJSON(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if entries == nil {
		entries = []Entry{}
	}
	if err := enc.Encode(jsonFile{Format: exchangeFormat, Version: 1, Entries: entries}); err != nil {
		return fmt.Errorf("write lut json: %w", err)
	}
	return nil
}

// ReadJSON reads a document written by WriteJSON, validating every entry.
func ReadJSON(r io.Reader) ([]Entry, error) {
	var f jsonFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read lut json: %w", err)
	}
	if f.Format != exchangeFormat {
		return nil, fmt.Errorf("read lut json: format %q, want %q", f.Format, exchangeFormat)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("read lut json: version %d not supported (want 1)", f.Version)
	}
	for i, e := range f.Entries {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("read lut json: entry %d: %w", i, err)
		}
	}
	return f.Entries, nil
}

// csvHeader is the column order of CSV files: identity, every statistic in
// microseconds, then provenance; conditions are one JSON column.
func csvHeader() []string {
	return []string{"device", "backend", "threads", "key", "count", "min_us", "p10_us", "p50_us", "p90_us",
		"max_us", "mean_us", "std_us", "mad_us", "cv", "ci_rel", "unstable", "measured_at", "tool_version", "source",
		"conditions"}
}

// WriteCSV writes a header line and one row per entry.
func WriteCSV(w io.Writer, entries []Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader()); err != nil {
		return fmt.Errorf("write lut csv: %w", err)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, e := range entries {
		cond, err := json.Marshal(e.Conditions)
		if err != nil {
			return fmt.Errorf("write lut csv: %s: %w", e.Key, err)
		}
		s := e.Stats
		at := ""
		if !e.MeasuredAt.IsZero() {
			at = e.MeasuredAt.UTC().Format(time.RFC3339Nano)
		}
		row := []string{e.Device, e.Backend, strconv.Itoa(e.Threads), e.Key, strconv.Itoa(s.Count),
			f(s.Min), f(s.P10), f(s.P50), f(s.P90), f(s.Max), f(s.Mean), f(s.Std), f(s.MAD), f(s.CV), f(e.CIRel),
			strconv.FormatBool(e.Unstable), at, e.ToolVersion, e.Source, string(cond)}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write lut csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write lut csv: %w", err)
	}
	return nil
}

// ReadCSV reads a file written by WriteCSV. Errors name the line and column.
func ReadCSV(r io.Reader) ([]Entry, error) {
	cr := csv.NewReader(r)
	want := csvHeader()
	cr.FieldsPerRecord = len(want)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read lut csv: header: %w", err)
	}
	for i, h := range want {
		if head[i] != h {
			return nil, fmt.Errorf("read lut csv: header column %d is %q, want %q", i+1, head[i], h)
		}
	}
	var out []Entry
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read lut csv: %w", err)
		}
		e, err := parseCSVRow(rec)
		if err != nil {
			return nil, fmt.Errorf("read lut csv: line %d: %w", line, err)
		}
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("read lut csv: line %d: %w", line, err)
		}
		out = append(out, e)
	}
}

func parseCSVRow(rec []string) (Entry, error) {
	var err error
	col := func(i int) string { return rec[i] }
	num := func(i int, dst *float64) {
		if err != nil {
			return
		}
		v, e := strconv.ParseFloat(col(i), 64)
		if e != nil {
			err = fmt.Errorf("column %s: %q is not a number", csvHeader()[i], col(i))
		}
		*dst = v
	}
	integer := func(i int, dst *int) {
		if err != nil {
			return
		}
		v, e := strconv.Atoi(col(i))
		if e != nil {
			err = fmt.Errorf("column %s: %q is not an integer", csvHeader()[i], col(i))
		}
		*dst = v
	}
	e := Entry{Device: col(0), Backend: col(1), Key: col(3), ToolVersion: col(17), Source: col(18)}
	s := profiler.Stats{}
	integer(2, &e.Threads)
	integer(4, &s.Count)
	for i, dst := range []*float64{&s.Min, &s.P10, &s.P50, &s.P90, &s.Max, &s.Mean, &s.Std, &s.MAD, &s.CV, &e.CIRel} {
		num(5+i, dst)
	}
	if err != nil {
		return Entry{}, err
	}
	e.Stats = s
	if e.Unstable, err = strconv.ParseBool(col(15)); err != nil {
		return Entry{}, fmt.Errorf("column unstable: %q is not true/false", col(15))
	}
	if col(16) != "" {
		if e.MeasuredAt, err = time.Parse(time.RFC3339Nano, col(16)); err != nil {
			return Entry{}, fmt.Errorf("column measured_at: %q is not an RFC 3339 time", col(16))
		}
	}
	if err := json.Unmarshal([]byte(col(19)), &e.Conditions); err != nil {
		return Entry{}, fmt.Errorf("column conditions: %w", err)
	}
	return e, nil
}
