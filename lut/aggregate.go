package lut

import (
	"fmt"
	"sort"
	"strings"

	"edgenas/profiler"
)

// AggregateClass merges one key's entries from several devices of a class
// into a class entry. Its Stats describe the spread of the devices' medians:
// P50 is the median across devices (what predictors use), Min/Max/P10/P90/
// Mean/Std/MAD/CV are over the per-device medians, and Count is the number of
// devices. It is flagged unstable when any device's entry was. All entries
// must share key, backend and threads, and come from distinct devices.
func AggregateClass(class string, entries []Entry) (Entry, error) {
	if len(entries) == 0 {
		return Entry{}, fmt.Errorf("class %s: no entries to aggregate", class)
	}
	first := entries[0]
	seen := map[string]bool{}
	meds := make([]float64, 0, len(entries))
	out := Entry{Device: class, Backend: first.Backend, Threads: first.Threads, Key: first.Key,
		Conditions: profiler.Conditions{Backend: first.Backend, Threads: first.Threads}}
	var devs []string
	for _, e := range entries {
		if e.Key != first.Key || e.Backend != first.Backend || e.Threads != first.Threads {
			return Entry{}, fmt.Errorf("class %s: entry %s/%s/%d/%s does not match %s/%d/%s", class,
				e.Device, e.Backend, e.Threads, e.Key, first.Backend, first.Threads, first.Key)
		}
		if seen[e.Device] {
			return Entry{}, fmt.Errorf("class %s: key %s: device %s appears twice", class, e.Key, e.Device)
		}
		seen[e.Device] = true
		devs = append(devs, e.Device)
		meds = append(meds, e.Stats.P50)
		out.Unstable = out.Unstable || e.Unstable
		if e.MeasuredAt.After(out.MeasuredAt) {
			out.MeasuredAt = e.MeasuredAt
		}
		if out.ToolVersion == "" {
			out.ToolVersion = e.ToolVersion
		}
	}
	out.Stats = profiler.SummarizeMicros(meds)
	sort.Strings(devs)
	out.Source = ClassSourcePrefix + strings.Join(devs, ",")
	return out, nil
}

// ClassView builds a class table from the per-device tables of its devices:
// every key measured on at least minDevices of them gets AggregateClass's
// entry. Keys below the threshold are returned in short (sorted), so the
// caller can see what to measure on more devices.
func ClassView(class string, tables []*Table, minDevices int) (t *Table, short []string, err error) {
	if len(tables) == 0 {
		return nil, nil, fmt.Errorf("class %s: no device tables", class)
	}
	if minDevices < 1 {
		minDevices = 1
	}
	b, th := tables[0].Backend, tables[0].Threads
	byKey := map[string][]Entry{}
	for _, tb := range tables {
		if tb.Backend != b || tb.Threads != th {
			return nil, nil, fmt.Errorf("class %s: table %s is not %s with %d threads", class, tb, b, th)
		}
		for k, e := range tb.Entries {
			e.Device = tb.Device // a map-built table may leave entries' device empty
			byKey[k] = append(byKey[k], e)
		}
	}
	t = &Table{Device: class, Class: class, Backend: b, Threads: th, Entries: map[string]Entry{}}
	for k, es := range byKey {
		if len(es) < minDevices {
			short = append(short, k)
			continue
		}
		ce, err := AggregateClass(class, es)
		if err != nil {
			return nil, nil, err
		}
		t.Entries[k] = ce
	}
	sort.Strings(short)
	return t, short, nil
}

// ClassView loads the class table of every device of class registered in the
// store, for one backend and thread count (see the function ClassView).
func (s *Store) ClassView(class, backend string, threads, minDevices int) (*Table, []string, error) {
	tables, err := s.classTables(class, backend, threads)
	if err != nil {
		return nil, nil, err
	}
	return ClassView(class, tables, minDevices)
}
