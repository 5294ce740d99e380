package lut

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"edgenas/profiler"
)

// TestDelegateEntries: entries timed by benchmark_model keep their delegate,
// options and partition counts through the store and the CSV/JSON exchange,
// and an entry whose backend and delegate disagree (or that names no
// delegate) is refused.
func TestDelegateEntries(t *testing.T) {
	nnapi := func() Entry {
		e := sampleEntry("pixel6", 0)
		e.Backend = "benchmark-model-nnapi"
		e.Conditions.Backend = e.Backend
		e.Conditions.Delegate = &profiler.DelegateInfo{Name: "nnapi", Options: map[string]string{"nnapi_accelerator_name": "google-edgetpu"},
			Mode: "partial", Nodes: 62, TotalNodes: 64, Partitions: 3, Kernels: 1}
		return e
	}
	s := openTemp(t)
	want := nnapi()
	if err := s.Put(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Entries(Filter{Backend: "benchmark-model-nnapi"})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Conditions.Delegate, want.Conditions.Delegate) {
		t.Fatalf("store round trip: %v %+v", err, got)
	}
	var csv, js bytes.Buffer
	if err := WriteCSV(&csv, got); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, got); err != nil {
		t.Fatal(err)
	}
	fromCSV, err := ReadCSV(&csv)
	if err != nil || !reflect.DeepEqual(fromCSV[0].Conditions.Delegate, want.Conditions.Delegate) {
		t.Errorf("CSV round trip: %v %+v", err, fromCSV)
	}
	fromJSON, err := ReadJSON(&js)
	if err != nil || !reflect.DeepEqual(fromJSON[0].Conditions.Delegate, want.Conditions.Delegate) {
		t.Errorf("JSON round trip: %v %+v", err, fromJSON)
	}
	tests := []struct {
		name   string
		change func(*Entry)
		want   string
	}{
		{name: "no delegate", change: func(e *Entry) { e.Conditions.Delegate = nil }, want: "records no delegate"},
		{name: "cpu timing labelled nnapi", change: func(e *Entry) { e.Conditions.Delegate.Name = "cpu" }, want: "but delegate cpu"},
		{name: "delegate not applied", change: func(e *Entry) { e.Conditions.Delegate.Mode = "none" }, want: `mode "none"`},
		{name: "delegate on an own backend", change: func(e *Entry) { e.Backend = "xnnpack" }, want: "is not benchmark_model's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := nnapi()
			tc.change(&e)
			if err := e.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	emu := nnapi()
	emu.Backend += "-emulated"
	if err := emu.Validate(); err != nil {
		t.Errorf("emulated benchmark_model entry: %v", err)
	}
}
