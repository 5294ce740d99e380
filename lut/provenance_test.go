package lut

import (
	"bytes"
	"strings"
	"testing"
)

func TestCalibrationProvenance(t *testing.T) {
	mk := func(device, class string) *Table {
		tb, err := TableFromMillis(device, "xnnpack", 1, "", map[string]float64{"fc-input:16-output:10": 0.1})
		if err != nil {
			t.Fatal(err)
		}
		tb.Class = class
		return tb
	}
	fleetOf := func(class string) Provenance {
		return Provenance{Source: SourceFleet, Class: class, Devices: []string{"p1", "p2"}}
	}
	tests := []struct {
		name  string
		table *Table
		where *Provenance // nil: a file written before sources were recorded
		want  string
	}{
		{name: "class table, its devices", table: mk("pixel", "pixel"), where: ptr(fleetOf("pixel"))},
		{name: "class table, host", table: mk("pixel", "pixel"), where: ptr(HostProvenance()), want: "lut validate --class pixel --broker"},
		{name: "class table, old file", table: mk("pixel", "pixel"), want: "measured on the host"},
		{name: "class table, another class", table: mk("pixel", "pixel"), where: ptr(fleetOf("note")), want: "class note"},
		{name: "device table, host", table: mk("dev1", ""), where: ptr(HostProvenance())},
		{name: "device table, old file", table: mk("dev1", "")},
		{name: "device table, a class", table: mk("dev1", ""), where: ptr(fleetOf("pixel")), want: "one device's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCalibrated(tc.table, FormScale)
			if err != nil {
				t.Fatal(err)
			}
			c.Coef, c.Samples = []float64{1.1, 0.01}, 5
			if tc.where != nil {
				c.setProvenance(*tc.where)
			}
			var buf bytes.Buffer
			if err := c.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCalibrated(&buf, tc.table)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.where != nil && got.provenance().String() != tc.where.String() {
					t.Errorf("read back measured on %s, want %s", got.provenance(), tc.where)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
