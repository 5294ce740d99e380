package lut

import (
	"fmt"
	"math"
	"sort"

	"edgenas/profiler"
)

// DefaultDisagreement is the relative distance from its class median beyond
// which a device's entry is flagged: 15%, well above the few percent two
// runs of one device differ by, so a flag means the device itself differs
// (thermal throttling, another governor, a background load).
const DefaultDisagreement = 0.15

// KeySpread is how much the devices of a class disagree on one key.
type KeySpread struct {
	Key     string `json:"key"`
	Devices int    `json:"devices"`
	// Spread is (max - min) / median of the devices' medians.
	Spread float64 `json:"spread"`
	// MinMs and MaxMs are the fastest and slowest device's medians.
	MinMs float64 `json:"min_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Deviation is one device's entry that disagrees with its class median by
// more than the threshold, with the conditions it was measured under.
type Deviation struct {
	Device  string  `json:"device"`
	Key     string  `json:"key"`
	Millis  float64 `json:"ms"`
	ClassMs float64 `json:"class_ms"`
	// Rel is Millis / ClassMs - 1.
	Rel        float64             `json:"rel"`
	Conditions profiler.Conditions `json:"conditions"`
}

// ClassReport describes how a class table was built: its devices, the keys
// too few of them measured, and the spread between devices per key.
type ClassReport struct {
	Class      string   `json:"class"`
	Devices    []string `json:"devices"`
	MinDevices int      `json:"min_devices"`
	// Short lists the keys fewer than MinDevices devices measured (left out).
	Short []string `json:"short,omitempty"`
	// Spreads covers every key of the table at least two devices measured.
	Spreads      []KeySpread `json:"spreads,omitempty"`
	MedianSpread float64     `json:"median_spread"`
	MaxSpread    float64     `json:"max_spread"`
	Threshold    float64     `json:"threshold"`
	// Flagged are the device entries farther than Threshold from the class median.
	Flagged []Deviation `json:"flagged,omitempty"`
}

// ClassTable is ClassView with the report: the spread of every key between
// the devices and the device entries that disagree with the class median by
// more than threshold (relative; <= 0 means DefaultDisagreement).
func ClassTable(class string, tables []*Table, minDevices int, threshold float64) (*Table, *ClassReport, error) {
	t, short, err := ClassView(class, tables, minDevices)
	if err != nil {
		return nil, nil, err
	}
	if threshold <= 0 {
		threshold = DefaultDisagreement
	}
	rep := &ClassReport{Class: class, MinDevices: max(minDevices, 1), Short: short, Threshold: threshold}
	for _, tb := range tables {
		rep.Devices = append(rep.Devices, tb.Device)
	}
	sort.Strings(rep.Devices)
	keys := make([]string, 0, len(t.Entries))
	for k := range t.Entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var spreads []float64
	for _, k := range keys {
		classMs := t.Entries[k].Millis()
		ks := KeySpread{Key: k, MinMs: math.Inf(1)}
		for _, tb := range tables {
			e, ok := tb.Entries[k]
			if !ok {
				continue
			}
			ms := e.Millis()
			ks.Devices++
			ks.MinMs, ks.MaxMs = min(ks.MinMs, ms), max(ks.MaxMs, ms)
			if rel := ms/classMs - 1; math.Abs(rel) > threshold {
				rep.Flagged = append(rep.Flagged, Deviation{Device: tb.Device, Key: k, Millis: ms, ClassMs: classMs,
					Rel: rel, Conditions: e.Conditions})
			}
		}
		if ks.Devices < 2 {
			continue
		}
		ks.Spread = (ks.MaxMs - ks.MinMs) / classMs
		rep.Spreads = append(rep.Spreads, ks)
		spreads = append(spreads, ks.Spread)
	}
	if len(spreads) > 0 {
		sort.Float64s(spreads)
		rep.MedianSpread, rep.MaxSpread = spreads[len(spreads)/2], spreads[len(spreads)-1]
	}
	return t, rep, nil
}

// FlaggedDevices counts the flagged entries per device.
func (r *ClassReport) FlaggedDevices() map[string]int {
	out := map[string]int{}
	for _, d := range r.Flagged {
		out[d.Device]++
	}
	return out
}

// String summarises the report in one paragraph.
func (r *ClassReport) String() string {
	s := fmt.Sprintf("class %s: %d devices %v, keys measured by fewer than %d devices: %d", r.Class, len(r.Devices),
		r.Devices, r.MinDevices, len(r.Short))
	if len(r.Spreads) > 0 {
		s += fmt.Sprintf("; spread between devices over %d keys: median %.1f%%, max %.1f%%", len(r.Spreads),
			100*r.MedianSpread, 100*r.MaxSpread)
	}
	if len(r.Flagged) > 0 {
		per := r.FlaggedDevices()
		devs := make([]string, 0, len(per))
		for d := range per {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		s += fmt.Sprintf("; %d entries more than %.0f%% from the class median:", len(r.Flagged), 100*r.Threshold)
		for _, d := range devs {
			s += fmt.Sprintf(" %s (%d)", d, per[d])
		}
	}
	return s
}

// ClassTable loads the class table of every device of class registered in
// the store, with its report (see the function ClassTable).
func (s *Store) ClassTable(class, backend string, threads, minDevices int, threshold float64) (*Table, *ClassReport, error) {
	tables, err := s.classTables(class, backend, threads)
	if err != nil {
		return nil, nil, err
	}
	return ClassTable(class, tables, minDevices, threshold)
}

// classTables are the per-device tables of a class's registered devices.
func (s *Store) classTables(class, backend string, threads int) ([]*Table, error) {
	devs, err := s.Devices(class)
	if err != nil {
		return nil, err
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("class %s: no devices registered", class)
	}
	var tables []*Table
	for _, d := range devs {
		v, err := s.View(d.ID, backend, threads)
		if err != nil {
			return nil, err
		}
		if len(v.Entries) > 0 {
			tables = append(tables, v)
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("class %s: no entries for backend %s with %d threads", class, backend, threads)
	}
	return tables, nil
}
