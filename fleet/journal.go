package fleet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// record is one journal line.
type record struct {
	Event   string   `json:"e"` // run, lease, done, fail
	Spec    *RunSpec `json:"spec,omitempty"`
	Job     string   `json:"job,omitempty"`
	Agent   string   `json:"agent,omitempty"`
	Attempt int      `json:"attempt,omitempty"`
	Seq     uint64   `json:"seq,omitempty"`
	Error   string   `json:"error,omitempty"`
	Final   bool     `json:"final,omitempty"`
	Time    string   `json:"t,omitempty"`
}

// journal persists the job table as JSON lines appended to one file: the run
// spec first, then lease/done/fail events. done and fail are fsynced (by
// sync) before the host acknowledges the result they record, so the one
// damage a crash can do, a last line cut before its newline, loses nothing
// acknowledged and is dropped on replay. Any other damage (an unreadable
// line with more after it, a complete line that is not a record, a cut run
// definition) is refused with ErrCorruptJournal and the line number: the
// journal is never silently replaced or started over. One process writes a
// journal at a time (the CLI holds LockPath of its store).
type journal struct {
	f *os.File
	w *bufio.Writer
}

// ErrCorruptJournal is wrapped by the error for a job table that cannot be
// replayed; DiscardJournal is the way out.
var ErrCorruptJournal = errors.New("job table is corrupt")

// LockPath is the lock file of the store out and its job table, held by the
// one process writing them.
func LockPath(out string) string { return out + ".lock" }

// DiscardJournal moves the job table at path aside (to
// path.discarded-TIME, returned) so the next run starts a new one; "" when
// there was none. The store's entries are not touched.
func DiscardJournal(path string) (string, error) {
	aside := path + ".discarded-" + time.Now().UTC().Format("20060102T150405.000Z")
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("discard job table: %w", err)
	}
	return aside, nil
}

// openJournal replays path into a table for spec (creating the journal if
// absent). A journal of a different run definition is an error.
func openJournal(path string, spec RunSpec) (*journal, *table, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("job table: %w", err)
	}
	t, valid, err := replay(f, spec)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("job table %s: %w", path, err)
	}
	// Drop a torn tail so new records start on a line of their own.
	if err := f.Truncate(valid); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("job table: %w", err)
	}
	if _, err := f.Seek(valid, 0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("job table: %w", err)
	}
	j := &journal{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	if valid == 0 {
		s := t.spec
		if err := j.append(record{Event: "run", Spec: &s}); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := j.sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return j, t, nil
}

func corrupt(line int, format string, a ...any) error {
	return fmt.Errorf("%w: line %d %s", ErrCorruptJournal, line, fmt.Sprintf(format, a...))
}

func replay(f *os.File, spec RunSpec) (*table, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var t *table
	var valid int64
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			// Only a crash's cut: the last line, after the run definition,
			// with no newline (the append never finished).
			last := !sc.Scan()
			if last && line > 1 && valid+int64(len(b)) == fi.Size() {
				break
			}
			return nil, 0, corrupt(line, "is unreadable (%v)", err)
		}
		valid += int64(len(b)) + 1
		if t == nil {
			if r.Event != "run" || r.Spec == nil {
				return nil, 0, corrupt(line, "is not the run definition")
			}
			if err := r.Spec.sameDefinition(spec); err != nil {
				return nil, 0, fmt.Errorf("belongs to another profile (%v); use another --out or remove it", err)
			}
			var err error
			if t, err = newTable(*r.Spec); err != nil {
				return nil, 0, err
			}
			continue
		}
		j, ok := t.byID[r.Job]
		if !ok {
			return nil, 0, corrupt(line, "names unknown job %q", r.Job)
		}
		j.Attempt = max(j.Attempt, r.Attempt)
		switch r.Event {
		case "lease":
			j.hold(r.Agent)
		case "done":
			t.complete(j, r.Agent)
		case "fail":
			j.Failures++
			j.LastErr = r.Agent + ": " + r.Error
			if r.Final {
				t.set(j, Failed)
			}
		default:
			return nil, 0, corrupt(line, "has unknown event %q", r.Event)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorruptJournal, err)
	}
	if t == nil {
		var err error
		if t, err = newTable(spec); err != nil {
			return nil, 0, err
		}
	}
	return t, valid, nil
}

func (j *journal) append(r record) error {
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("job table: %w", err)
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return fmt.Errorf("job table: record %s: %w", r.Event, err)
	}
	return nil
}

// sync makes every appended record durable.
func (j *journal) sync() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("job table: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("job table: %w", err)
	}
	return nil
}

func (j *journal) close() error {
	err := j.sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
