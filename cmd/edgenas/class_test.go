package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/space"
)

// classStore writes a store with a class of devices that measured every key
// of spnas-fmnist, device i at (1 + i*slow) times a base latency, except
// that the last device skips the first `skip` keys.
func classStore(t *testing.T, class string, devs []string, slow float64, skip int) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "class.db")
	st, err := lut.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := space.Lookup("spnas-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		if err := st.PutDevice(lut.Device{ID: d, Class: class}); err != nil {
			t.Fatal(err)
		}
		var es []lut.Entry
		for k, l := range s.UniqueKeys() {
			if i == len(devs)-1 && k < skip {
				continue
			}
			us := (50 + float64(k%7)*20) * (1 + float64(i)*slow)
			es = append(es, lut.Entry{Device: d, Backend: "xnnpack", Threads: 1, Key: l.Key(),
				Stats:      profiler.Stats{Count: 10, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us},
				Conditions: profiler.Conditions{Backend: "xnnpack", Threads: 1, CPUModel: "cpu-" + d, Governor: "schedutil"},
				MeasuredAt: time.Now().UTC(), ToolVersion: "test"})
		}
		if err := st.Put(es...); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestLUTClassCommands(t *testing.T) {
	db := classStore(t, "phones", []string{"a1", "a2", "a3"}, 0.1, 3)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{name: "show class", args: []string{"lut", "show", "--lut", db, "--class", "phones", "--min-devices", "3"},
			want: []string{"class phones", "67 entries", "3 devices [a1 a2 a3]", "fewer than 3 devices: 3", "left out"}},
		{name: "show flags the slow device", args: []string{"lut", "show", "--lut", db, "--class", "phones", "--disagree", "0.05"},
			want: []string{"FLAGGED DEVICE", "a3", "cpu-a3"}},
		{name: "show without a device choice", args: []string{"lut", "show", "--lut", db}, wantCode: 2,
			want: []string{"--class"}},
		{name: "device and class", args: []string{"lut", "show", "--lut", db, "--class", "phones", "--device", "a1"}, wantCode: 2,
			want: []string{"not both"}},
		{name: "unknown class", args: []string{"lut", "show", "--lut", db, "--class", "tablets"}, wantCode: 1,
			want: []string{"no devices registered"}},
		{name: "fleet bench without a class", args: []string{"fleet", "bench", "m.tflite"}, wantCode: 2, want: []string{"needs --class"}},
		{name: "fleet bench of a missing file", args: []string{"fleet", "bench", "--class", "phones", "/nonexistent.tflite"}, wantCode: 1,
			want: []string{"nonexistent.tflite"}},
		{name: "validate on the fleet needs a class", args: []string{"lut", "validate", "--lut", db, "--device", "a1",
			"--broker", "tcp://127.0.0.1:1"}, wantCode: 2, want: []string{"give --class"}},
		{name: "predict on the class", args: []string{"lut", "predict", "--lut", db, "--class", "phones", "--space", "spnas-fmnist",
			"--arch", "random", "--predictor", "lut-sum"}, want: []string{"ms"}},
		{name: "predict with keys left out", args: []string{"lut", "predict", "--lut", db, "--class", "phones", "--min-devices", "3",
			"--space", "spnas-fmnist", "--arch", "random", "--predictor", "spnas-formula"}, wantCode: 1, want: []string{"phones"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s %s", code, tc.wantCode, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errs, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errs)
				}
			}
		})
	}
	code, out, errs := runCLI(t, "lut", "export", "--lut", db, "--class", "phones", "--format", "json")
	if code != 0 {
		t.Fatalf("export: %s", errs)
	}
	es, err := lut.ReadJSON(strings.NewReader(out))
	if err != nil || len(es) != 70 {
		t.Fatalf("export: %d entries, %v", len(es), err)
	}
	if es[0].Device != "phones" || !strings.HasPrefix(es[0].Source, "class:") {
		t.Errorf("exported class entry %+v", es[0])
	}
}
