package lut

import (
	"crypto/sha256"
	"database/sql"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// foreignSQLite writes a SQLite database of some other program.
func foreignSQLite(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
}

// A store opened for reading never changes the file: not an empty one, not
// another program's database, not one that is no database at all.
func TestOpenReadOnlyLeavesFilesUnchanged(t *testing.T) {
	dir := t.TempDir()
	lutPath := filepath.Join(dir, "lut.db")
	s, err := Open(lutPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(sampleEntry("d", 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tests := []struct {
		name    string
		make    func(path string)
		wantErr string // "" means it opens and reads
	}{
		{name: "edgenas LUT", make: nil, wantErr: ""},
		{name: "empty file", make: func(p string) { os.WriteFile(p, nil, 0o644) }, wantErr: "not an edgenas LUT (empty file)"},
		{name: "foreign SQLite", make: func(p string) { foreignSQLite(t, p) }, wantErr: "not an edgenas LUT (no schema_version table)"},
		{name: "not SQLite", make: func(p string) { os.WriteFile(p, []byte(strings.Repeat("hello, world\n", 100)), 0o644) }, wantErr: "not an edgenas LUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := lutPath
			if tc.make != nil {
				path = filepath.Join(t.TempDir(), "x.db")
				tc.make(path)
			}
			before := fileHash(t, path)
			ro, err := OpenReadOnly(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				es, err := ro.Entries(Filter{})
				if err != nil || len(es) != 1 {
					t.Fatalf("entries %d, %v", len(es), err)
				}
				if err := ro.Put(sampleEntry("d", 1)); err == nil {
					t.Error("a read-only store accepted a write")
				}
				ro.Close()
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("OpenReadOnly: %v, want an error naming %s and containing %q", err, path, tc.wantErr)
			}
			// A writing open refuses a foreign file too, before touching it.
			if tc.name == "foreign SQLite" || tc.name == "not SQLite" {
				if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "not an edgenas LUT") {
					t.Errorf("Open: %v, want 'not an edgenas LUT'", err)
				}
			}
			if fileHash(t, path) != before {
				t.Errorf("%s changed", path)
			}
		})
	}
}

// Put refuses what no measurement can produce, naming the key.
func TestPutRefusesNonFiniteEntries(t *testing.T) {
	tests := []struct {
		name string
		p50  float64
		want string
	}{
		{name: "infinite", p50: math.Inf(1), want: "p50 +Inf must be finite"},
		{name: "NaN", p50: math.NaN(), want: "p50 NaN must be finite"},
		{name: "negative", p50: -3, want: "p50 -3 must be finite and non-negative"},
	}
	s := openTemp(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleEntry("d", 0)
			e.Stats.P50 = tc.p50
			if err := s.Put(e); err == nil || !strings.Contains(err.Error(), e.Key) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Put: %v, want an error naming %s: %s", err, e.Key, tc.want)
			}
		})
	}
}

// A row edited outside edgenas to hold an infinite or negative median is
// refused on read with an error naming its key.
func TestStoredEntriesValidatedOnRead(t *testing.T) {
	tests := []struct {
		name   string
		update string
		want   string
	}{
		{name: "infinite p50", update: "UPDATE entries SET p50 = 1e999, p90 = 1e999, max = 1e999", want: "p50 +Inf must be finite and non-negative"},
		{name: "negative p50", update: "UPDATE entries SET p50 = -5", want: "p50 -5 must be finite and non-negative"},
		{name: "negative cv", update: "UPDATE entries SET cv = -1", want: "cv -1 must be finite and non-negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			e := sampleEntry("d", 0)
			if err := s.Put(e); err != nil {
				t.Fatal(err)
			}
			// What an attacker with sqlite3 can do: bypass the CHECKs.
			if _, err := s.db.Exec("PRAGMA ignore_check_constraints = ON; " + tc.update); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Entries(Filter{}); err == nil || !strings.Contains(err.Error(), e.Key) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Entries: %v, want an error naming %s: %s", err, e.Key, tc.want)
			}
			if _, err := s.View(e.Device, e.Backend, e.Threads); err == nil || !strings.Contains(err.Error(), e.Key) {
				t.Errorf("View: %v, want an error naming %s", err, e.Key)
			}
			if _, _, err := s.Get(e.Device, e.Backend, e.Threads, e.Key); err == nil || !strings.Contains(err.Error(), e.Key) {
				t.Errorf("Get: %v, want an error naming %s", err, e.Key)
			}
		})
	}
}
