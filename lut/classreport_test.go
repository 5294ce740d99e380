package lut

import (
	"math"
	"strings"
	"testing"
)

func TestClassTableSpreadAndFlags(t *testing.T) {
	// Key 0: devices at 100, 104 and 150 us; key 1: 110 and 112; key 2: only d1.
	at := func(dev string, i int, p50 float64) Entry {
		e := sampleEntry(dev, i)
		e.Stats.Min, e.Stats.P10, e.Stats.P50, e.Stats.P90, e.Stats.Max = p50-1, p50, p50, p50, p50+1
		return e
	}
	mk := func(dev string, es ...Entry) *Table {
		tb, err := NewTable(dev, "xnnpack", 1, es)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	tables := []*Table{
		mk("d1", at("d1", 0, 100), at("d1", 1, 110), at("d1", 2, 120)),
		mk("d2", at("d2", 0, 104), at("d2", 1, 112)),
		mk("d3", at("d3", 0, 150)),
	}
	tests := []struct {
		name       string
		minDevices int
		threshold  float64
		wantKeys   int
		wantShort  int
		wantFlags  []string
	}{
		{name: "every key", minDevices: 1, threshold: 0.15, wantKeys: 3, wantFlags: []string{"d3"}},
		{name: "two devices", minDevices: 2, threshold: 0.15, wantKeys: 2, wantShort: 1, wantFlags: []string{"d3"}},
		{name: "three devices", minDevices: 3, threshold: 0.15, wantKeys: 1, wantShort: 2, wantFlags: []string{"d3"}},
		{name: "loose threshold", minDevices: 2, threshold: 0.6, wantKeys: 2, wantShort: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, rep, err := ClassTable("pixel", tables, tc.minDevices, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			if tb.Class != "pixel" || tb.Len() != tc.wantKeys || len(rep.Short) != tc.wantShort {
				t.Fatalf("class %q, %d keys, short %v; want %d keys, %d short", tb.Class, tb.Len(), rep.Short, tc.wantKeys, tc.wantShort)
			}
			var flagged []string
			for _, d := range rep.Flagged {
				flagged = append(flagged, d.Device)
				if d.Conditions.CPUModel == "" {
					t.Errorf("flag of %s carries no conditions", d.Device)
				}
			}
			if strings.Join(flagged, ",") != strings.Join(tc.wantFlags, ",") {
				t.Errorf("flagged %v, want %v", flagged, tc.wantFlags)
			}
			k0 := sampleEntry("", 0).Key
			for _, s := range rep.Spreads {
				if s.Key == k0 && math.Abs(s.Spread-0.5/1.04) > 1e-9 { // (150-100)/104
					t.Errorf("spread of key 0 = %g, want %g", s.Spread, 0.5/1.04)
				}
			}
			if !strings.Contains(rep.String(), "3 devices") {
				t.Errorf("summary %q does not count the devices", rep.String())
			}
		})
	}
}
