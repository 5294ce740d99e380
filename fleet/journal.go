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
// sync) before the host acknowledges the result they record; a torn last
// line from a crash is ignored on replay.
type journal struct {
	f *os.File
	w *bufio.Writer
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

func replay(f *os.File, spec RunSpec) (*table, int64, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var t *table
	var valid int64
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			// Only a torn final line is tolerated.
			if sc.Scan() {
				return nil, 0, fmt.Errorf("line %d is corrupt: %v", line, err)
			}
			break
		}
		valid += int64(len(b)) + 1
		if t == nil {
			if r.Event != "run" || r.Spec == nil {
				return nil, 0, fmt.Errorf("line 1 is not the run definition")
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
			return nil, 0, fmt.Errorf("line %d names unknown job %q", line, r.Job)
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
			return nil, 0, fmt.Errorf("line %d: unknown event %q", line, r.Event)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return nil, 0, err
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
