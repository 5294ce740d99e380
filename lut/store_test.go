package lut

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"edgenas/profiler"
)

// sampleEntry is a fully populated entry whose numbers depend on i.
func sampleEntry(device string, i int) Entry {
	base := float64(100 + 10*i)
	return Entry{
		Device: device, Backend: "xnnpack", Threads: 1,
		Key: fmt.Sprintf("fc-input:%d-output:10", 16+i),
		Stats: profiler.Stats{Count: 25 + i, Min: base - 5, P10: base - 2, P50: base, P90: base + 3, Max: base + 9,
			Mean: base + 0.5, Std: 1.5, MAD: 0.75, CV: 1.5 / (base + 0.5)},
		CIRel:    0.004,
		Unstable: i%2 == 1,
		Conditions: profiler.Conditions{Backend: "xnnpack", Threads: 1, CPUModel: "Cortex-A76", Affinity: []int{4, 5},
			FreqMHz: 2419.2, Governor: "performance", TempC: 41.5, Load1: 0.3, NumCPU: 8},
		MeasuredAt:  time.Date(2025, 3, 1, 12, 0, i, 123456789, time.UTC),
		ToolVersion: "edgenas-test",
	}
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "lut.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreRoundTrip(t *testing.T) {
	s := openTemp(t)
	var batch []Entry
	for i := 0; i < 5; i++ {
		batch = append(batch, sampleEntry("pixel1-a", i))
	}
	imp := sampleEntry("note10", 0)
	imp.Source = "import:ofa-note10"
	batch = append(batch, imp)
	if err := s.Put(batch...); err != nil {
		t.Fatal(err)
	}
	for _, want := range batch {
		got, ok, err := s.Get(want.Device, want.Backend, want.Threads, want.Key)
		if err != nil || !ok {
			t.Fatalf("get %s: ok=%v err=%v", want.Key, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", want.Key, got, want)
		}
	}
	// Replacing keeps one row per identity.
	upd := batch[0]
	upd.Stats.P50 = 101
	if err := s.Put(upd); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 6},
		{"device", Filter{Device: "pixel1-a"}, 5},
		{"native", Filter{Native: true}, 5},
		{"source", Filter{Source: "import:ofa-note10"}, 1},
		{"stable", Filter{Device: "pixel1-a", Stable: true}, 3},
		{"prefix", Filter{KeyPrefix: "fc-input:1"}, 5},
		{"prefix2", Filter{KeyPrefix: "fc-input:2"}, 1},
		{"threads", Filter{Threads: 4}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, err := s.Entries(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != tc.want {
				t.Errorf("%d entries, want %d", len(es), tc.want)
			}
		})
	}
	v, err := s.View("pixel1-a", "xnnpack", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ms, ok := v.Millis(batch[0].Key); !ok || ms != 0.101 {
		t.Errorf("view millis = %v %v, want 0.101", ms, ok)
	}
	if _, err := s.Delete(Filter{}); err == nil {
		t.Error("delete with empty filter succeeded")
	}
	n, err := s.Delete(Filter{Source: "import:ofa-note10"})
	if err != nil || n != 1 {
		t.Errorf("delete imported: n=%d err=%v, want 1", n, err)
	}
	if ok, _ := s.Has(imp.Device, imp.Backend, imp.Threads, imp.Key); ok {
		t.Error("deleted entry still there")
	}
}

func TestStoreRejectsBadInput(t *testing.T) {
	s := openTemp(t)
	good := sampleEntry("d", 0)
	tests := []struct {
		name string
		mod  func(e *Entry)
		want string
	}{
		{"no device", func(e *Entry) { e.Device = "" }, "device is empty"},
		{"space in key", func(e *Entry) { e.Key = "a b" }, "whitespace"},
		{"zero threads", func(e *Entry) { e.Threads = 0 }, "threads 0"},
		{"zero count", func(e *Entry) { e.Stats.Count = 0 }, "count 0"},
		{"negative std", func(e *Entry) { e.Stats.Std = -1 }, "std -1"},
		{"disordered", func(e *Entry) { e.Stats.P90 = 1 }, "out of order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.mod(&e)
			err := s.Put(good, e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if ok, _ := s.Has(good.Device, good.Backend, good.Threads, good.Key); ok {
				t.Error("valid entry of a rejected batch was stored")
			}
		})
	}
	if err := s.PutDevice(Device{ID: "x", Description: []byte("{nope")}); err == nil {
		t.Error("invalid description JSON accepted")
	}
	if _, err := Open(":memory:"); err == nil {
		t.Error("Open(:memory:) succeeded")
	}
}

// A batch the database rejects half-way (past Go-side validation) leaves the
// store exactly as it was.
func TestStoreBatchIsAtomic(t *testing.T) {
	s := openTemp(t)
	if err := s.Put(sampleEntry("d", 0)); err != nil {
		t.Fatal(err)
	}
	bad := sampleEntry("d", 3)
	bad.Stats.P50 = 0 // violates CHECK (p50 > 0)
	batch := []Entry{sampleEntry("d", 1), sampleEntry("d2", 2), bad, sampleEntry("d", 4)}
	if err := s.put(batch); err == nil || !strings.Contains(err.Error(), "put entry 2") {
		t.Fatalf("error %v, want the database to reject entry 2", err)
	}
	es, err := s.Entries(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Key != sampleEntry("d", 0).Key {
		t.Errorf("after failed batch: %d entries %v, want only the first", len(es), es)
	}
	devs, _ := s.Devices("")
	if len(devs) != 1 {
		t.Errorf("failed batch left devices %v", devs)
	}
}

func TestStoreResumeHas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	done := []Entry{sampleEntry("d", 0), sampleEntry("d", 1)}
	if err := s.Put(done...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 4; i++ {
		e := sampleEntry("d", i)
		ok, err := s.Has(e.Device, e.Backend, e.Threads, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i < 2) {
			t.Errorf("Has(entry %d) = %v, want %v", i, ok, i < 2)
		}
		if ok2, _ := s.Has(e.Device, e.Backend, 2, e.Key); ok2 {
			t.Errorf("Has with other thread count = true")
		}
	}
}

func TestStoreMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Version(); v != 1 {
		t.Fatalf("old store version %d, want 1", v)
	}
	// A row written by a version-1 program.
	_, err = old.db.Exec(`INSERT INTO devices(id) VALUES ('d');
		INSERT INTO entries(device, backend, threads, key, count, min, p10, p50, p90, max, mean, std, mad, cv,
		unstable, conditions, measured_at, tool_version)
		VALUES ('d', 'ref', 1, 'fc-input:8-output:2', 30, 1, 2, 3, 4, 5, 3, 1, 1, 0.3, 0, '{}', '2024-01-01T00:00:00Z', 'v0')`)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(); v != SchemaVersion() {
		t.Errorf("migrated version %d, want %d", v, SchemaVersion())
	}
	e, ok, err := s.Get("d", "ref", 1, "fc-input:8-output:2")
	if err != nil || !ok {
		t.Fatalf("old row after migration: ok=%v err=%v", ok, err)
	}
	if e.Stats.P50 != 3 || e.Source != "" || e.CIRel != 0 {
		t.Errorf("old row migrated to %+v", e)
	}
	// Reopening is a no-op.
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	// A file from the future is refused.
	if _, err := s.db.Exec("INSERT INTO schema_version VALUES (?, 'later')", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: %v, want a 'newer' error", err)
	}
}

// TestStoreCrashLosesNothingCommitted kills a writer process in the middle of
// an uncommitted batch and checks that every committed batch survives and the
// half-written one left no trace.
func TestStoreCrashLosesNothingCommitted(t *testing.T) {
	if os.Getenv("LUT_CRASH_HELPER") != "" {
		crashHelper(os.Getenv("LUT_CRASH_HELPER"))
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreCrashLosesNothingCommitted$")
	cmd.Env = append(os.Environ(), "LUT_CRASH_HELPER="+path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("helper: %v (want exit 3)\n%s", err, out)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.Entries(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("after crash %d entries, want the 3 committed", len(es))
	}
	for i, e := range es {
		if e.Device != "committed" || e.Key != sampleEntry("", i).Key {
			t.Errorf("entry %d = %s/%s, want committed/%s", i, e.Device, e.Key, sampleEntry("", i).Key)
		}
	}
}

// crashHelper commits three entries, then dies with a transaction open.
func crashHelper(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for i := 0; i < 3; i++ {
		if err := s.Put(sampleEntry("committed", i)); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	tx, err := s.db.Begin()
	if err != nil {
		os.Exit(1)
	}
	for i := 3; i < 6; i++ {
		e := sampleEntry("lost", i)
		if _, err := tx.Exec("INSERT OR IGNORE INTO devices(id) VALUES (?)", e.Device); err != nil {
			os.Exit(1)
		}
		if _, err := tx.Exec(`INSERT INTO entries(device, backend, threads, key, count, min, p10, p50, p90, max,
			mean, std, mad, cv, measured_at, tool_version) VALUES (?, 'x', 1, ?, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, '', '')`,
			e.Device, e.Key); err != nil {
			os.Exit(1)
		}
	}
	os.Exit(3) // no commit, no close: as if killed
}

// Two handles on one file (as two processes would have) writing batches at
// the same time: none is lost and none fails with "database is locked".
func TestStoreConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []*Store
	for i := 0; i < 2; i++ {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	const writers, batches, per = 4, 10, 5
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			s := stores[w%len(stores)]
			for b := 0; b < batches; b++ {
				var batch []Entry
				for k := 0; k < per; k++ {
					batch = append(batch, sampleEntry(fmt.Sprintf("w%d", w), b*per+k))
				}
				if err := s.Put(batch...); err != nil {
					errs <- err
					return
				}
				if _, err := s.Entries(Filter{Device: fmt.Sprintf("w%d", w)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	es, err := stores[0].Entries(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != writers*batches*per {
		t.Errorf("%d entries, want %d", len(es), writers*batches*per)
	}
}
