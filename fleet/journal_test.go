package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/lut"
)

// goodJournal writes a journal of a run with one job leased and done, and
// returns its path and bytes (three lines: run, lease, done).
func goodJournal(t *testing.T, sp RunSpec) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lut.db.jobs")
	jr, tab, err := openJournal(path, sp)
	if err != nil {
		t.Fatal(err)
	}
	j := tab.assign("a", time.Now(), time.Second)
	jr.append(record{Event: "lease", Job: j.ID, Agent: "a", Attempt: j.Attempt})
	jr.append(record{Event: "done", Job: j.ID, Agent: "a", Attempt: 1})
	if err := jr.close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Fatalf("journal has %d lines, want 3", n)
	}
	return path, b
}

// A damaged job table is refused with its line number and left as it was;
// only a crash's cut last line is dropped.
func TestJournalDamageIsRefused(t *testing.T) {
	sp := testSpec(6, 2, 1)
	_, good := goodJournal(t, sp)
	lines := bytes.SplitAfter(good, []byte("\n")) // 3 lines and an empty tail
	tests := []struct {
		name    string
		content []byte
		want    string // "" means it replays
		done    int
	}{
		{name: "intact", content: good, done: 1},
		{name: "crash cut the last line", content: good[:len(good)-10], done: 0},
		{name: "cut inside the first line", content: lines[0][:40], want: "line 1 is unreadable"},
		{name: "first line cut, more after", content: append(append([]byte{}, lines[0][:40]...), lines[1]...), want: "line 1 is unreadable"},
		{name: "torn middle line", content: append(append(append([]byte{}, lines[0]...), lines[1][:20]...), lines[2]...), want: "line 2 is unreadable"},
		{name: "complete garbage last line", content: append(append([]byte{}, good...), "{\"e\":\"do\n"...), want: "line 4 is unreadable"},
		{name: "not the run definition", content: lines[1], want: "line 1 is not the run definition"},
		{name: "blank line", content: append(append([]byte{}, lines[0]...), '\n'), want: "line 2 is unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lut.db.jobs")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			jr, tab, err := openJournal(path, sp)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				jr.close()
				if tab.count[Done] != tc.done {
					t.Errorf("replayed %d done jobs, want %d", tab.count[Done], tc.done)
				}
				return
			}
			if !errors.Is(err, ErrCorruptJournal) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want ErrCorruptJournal naming %s and %q", err, path, tc.want)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tc.content) {
				t.Errorf("a refused job table was changed (%d bytes, was %d)", len(b), len(tc.content))
			}
			// The way out: move it aside and start a new run.
			aside, err := DiscardJournal(path)
			if err != nil || aside == "" {
				t.Fatalf("DiscardJournal: %q, %v", aside, err)
			}
			if b, _ := os.ReadFile(aside); !bytes.Equal(b, tc.content) {
				t.Errorf("the discarded table at %s is not the original", aside)
			}
			jr, tab, err = openJournal(path, sp)
			if err != nil {
				t.Fatalf("after discarding: %v", err)
			}
			jr.close()
			if tab.count[Done] != 0 {
				t.Errorf("a new run starts with %d done jobs", tab.count[Done])
			}
		})
	}
}

// Two hosts of the same run (a resumed run in another process) get
// different MQTT client ids, so neither takes over the other's session.
func TestHostClientIDUniquePerProcess(t *testing.T) {
	dir := t.TempDir()
	st, err := lut.Open(filepath.Join(dir, "lut.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sp := testSpec(4, 2, 1)
	seen := map[string]bool{}
	for i := range 3 {
		h, err := NewHost(Config{Broker: "tcp://127.0.0.1:1883", Spec: sp, Store: st, Journal: filepath.Join(dir, fmt.Sprintf("j%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		h.journal.close()
		id := h.cfg.ClientID
		if !strings.HasPrefix(id, "edgenas-host-r1-") || seen[id] {
			t.Fatalf("client id %q: want edgenas-host-r1-<random>, distinct from %v", id, seen)
		}
		seen[id] = true
	}
}
