package searcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"edgenas/internal/atomicfile"
	"edgenas/nn"
)

// CheckpointEvery is how many steps a Loop goes between checkpoints unless
// told otherwise: small enough that a crash loses under a minute of the
// default recipes, large enough that saving costs little next to training.
const CheckpointEvery = 50

// loopExtra is the nn.Checkpoint Extra key holding the loop's own state.
const loopExtra = "searcher.loop"

// loopState is what a Loop keeps in the checkpoint beside the caller's state.
type loopState struct {
	// Seconds is the wall time spent running steps up to the checkpoint,
	// summed over every invocation that ran any.
	Seconds float64 `json:"seconds"`
}

// Loop runs a training of Total steps so that it survives interruption:
// Run resumes from Checkpoint when it exists, runs the remaining steps,
// appends each step's record R as one line of the JSONL file Log, and
// saves a checkpoint every Every steps, when ctx is cancelled, and at the
// end. The checkpoint carries the caller's state (Snapshot/Restore), the
// step count and the elapsed time, written in one atomic file, so a run
// killed at any moment resumes from its last checkpoint: Run truncates the
// log back to that checkpoint's step (dropping lines of steps the crash
// lost, and a torn last line), and a deterministic training then reaches
// the same end state and log as an uninterrupted one.
//
// Step, Snapshot and Restore must agree: after Restore(ck) the next Step
// is step ck.Step, and Snapshot captures everything Step depends on (weights,
// optimizer, data position, random generators). Run sets the checkpoint's
// Arch to Tag and its Step to the step count, so Snapshot need not.
type Loop[R any] struct {
	// Name says what is trained, in errors ("search", "train").
	Name string
	// Tag identifies the recipe: Run refuses to resume a checkpoint of
	// another tag (another seed, space, schedule...).
	Tag string
	// Checkpoint is the checkpoint file's path.
	Checkpoint string
	// Log is the JSONL file of step records, line i for step i ("" keeps none).
	Log string
	// Every is the number of steps between checkpoints (0: CheckpointEvery).
	Every int
	// Total is the number of steps of the whole training.
	Total int
	// Step runs the next step and returns its record; its errors, returned
	// as they are, should name the step.
	Step func() (R, error)
	// Snapshot copies the caller's state after the last completed step.
	Snapshot func() (*nn.Checkpoint, error)
	// Restore loads a checkpoint written from Snapshot (ck.Step is the
	// number of completed steps).
	Restore func(ck *nn.Checkpoint) error
	// OnStep (may be nil) sees every step's record as it completes.
	OnStep func(R)

	now func() time.Time // the clock elapsed time is read from (nil: time.Now)
}

// Outcome is what a completed Run reports.
type Outcome struct {
	// Steps is the number of completed steps (Total).
	Steps int
	// Resumed is the step this invocation resumed from (0 for a fresh run);
	// Steps-Resumed steps ran now, none when the run was already complete.
	Resumed int
	// Seconds is the wall time spent running steps over every invocation.
	Seconds float64
}

// Ran is the number of steps this invocation ran.
func (o Outcome) Ran() int { return o.Steps - o.Resumed }

func (l *Loop[R]) validate() error {
	switch {
	case l.Checkpoint == "":
		return fmt.Errorf("%s loop: no checkpoint path", l.Name)
	case l.Total <= 0:
		return fmt.Errorf("%s loop: %d total steps, want at least 1", l.Name, l.Total)
	case l.Every < 0:
		return fmt.Errorf("%s loop: checkpoint interval %d is negative", l.Name, l.Every)
	case l.Step == nil || l.Snapshot == nil || l.Restore == nil:
		return fmt.Errorf("%s loop: Step, Snapshot and Restore are all required", l.Name)
	}
	return nil
}

// Run trains to Total steps, resuming from the checkpoint if there is one.
// A cancelled ctx saves a checkpoint and returns an error wrapping
// ctx.Err() that says where the run can resume from; a failed step returns
// its error without saving (the state may be half-stepped), so the run
// resumes from the checkpoint before it.
func (l *Loop[R]) Run(ctx context.Context) (Outcome, error) {
	if err := l.validate(); err != nil {
		return Outcome{}, err
	}
	step, prior, err := l.resume()
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Steps: step, Resumed: step, Seconds: prior}
	if step == l.Total {
		return out, nil
	}
	log, err := l.openLog(step)
	if err != nil {
		return Outcome{}, err
	}
	defer log.close()
	now := l.now
	if now == nil {
		now = time.Now
	}
	start, saved := now(), step
	save := func() error {
		if err := log.flush(); err != nil {
			return err
		}
		out.Seconds = prior + now().Sub(start).Seconds()
		if err := l.save(step, out.Seconds); err != nil {
			return err
		}
		saved = step
		return nil
	}
	every := l.Every
	if every == 0 {
		every = CheckpointEvery
	}
	for step < l.Total {
		if err := ctx.Err(); err != nil {
			if step > saved {
				if serr := save(); serr != nil {
					return Outcome{}, errors.Join(err, serr)
				}
			}
			return Outcome{}, fmt.Errorf("%s interrupted at step %d of %d (resumable from %s): %w", l.Name, step, l.Total, l.Checkpoint, err)
		}
		rec, err := l.Step()
		if err != nil {
			return Outcome{}, err // Step's errors name the step
		}
		step++
		if err := log.write(rec); err != nil {
			return Outcome{}, err
		}
		if l.OnStep != nil {
			l.OnStep(rec)
		}
		if step%every == 0 || step == l.Total {
			if err := save(); err != nil {
				return Outcome{}, err
			}
		}
	}
	out.Steps = step
	return out, log.close()
}

// resume restores the checkpoint if there is one and returns its step and
// elapsed seconds (0, 0 for a fresh run).
func (l *Loop[R]) resume() (int, float64, error) {
	ck, err := nn.LoadCheckpoint(l.Checkpoint)
	if errors.Is(err, nn.ErrNoCheckpoint) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: resume: %w", l.Name, err)
	}
	if ck.Arch != l.Tag {
		return 0, 0, fmt.Errorf("%s: resume %s: checkpoint is of %q, this run is %q", l.Name, l.Checkpoint, ck.Arch, l.Tag)
	}
	if ck.Step < 0 || ck.Step > int64(l.Total) {
		return 0, 0, fmt.Errorf("%s: resume %s: checkpoint at step %d, outside this run's 0..%d", l.Name, l.Checkpoint, ck.Step, l.Total)
	}
	var st loopState
	raw, ok := ck.Extra[loopExtra]
	if !ok {
		return 0, 0, fmt.Errorf("%s: resume %s: the checkpoint has no loop state (step and elapsed time); delete it to start over", l.Name, l.Checkpoint)
	}
	if err := json.Unmarshal(raw, &st); err != nil || !(st.Seconds >= 0) {
		return 0, 0, fmt.Errorf("%s: resume %s: bad loop state %q: %v", l.Name, l.Checkpoint, raw, err)
	}
	if err := l.Restore(ck); err != nil {
		return 0, 0, fmt.Errorf("%s: resume %s: %w", l.Name, l.Checkpoint, err)
	}
	return int(ck.Step), st.Seconds, nil
}

// save writes the caller's state with the loop's own, atomically.
func (l *Loop[R]) save(step int, seconds float64) error {
	ck, err := l.Snapshot()
	if err != nil {
		return fmt.Errorf("%s checkpoint: %w", l.Name, err)
	}
	raw, err := json.Marshal(loopState{Seconds: seconds})
	if err != nil {
		return fmt.Errorf("%s checkpoint: %w", l.Name, err)
	}
	if ck.Extra == nil {
		ck.Extra = map[string][]byte{}
	}
	ck.Arch, ck.Step, ck.Extra[loopExtra] = l.Tag, int64(step), raw
	return ck.Save(l.Checkpoint)
}

// stepLog appends step records to a Loop's JSONL log (a no-op without one).
type stepLog struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

// openLog cuts the log back to its first step lines (the steps the
// checkpoint holds) and opens it for appending.
func (l *Loop[R]) openLog(step int) (*stepLog, error) {
	if l.Log == "" {
		return &stepLog{}, nil
	}
	if err := truncateLines(l.Log, step); err != nil {
		return nil, fmt.Errorf("%s log: %w", l.Name, err)
	}
	f, err := os.OpenFile(l.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", l.Name, err)
	}
	return &stepLog{path: l.Log, f: f, w: bufio.NewWriter(f)}, nil
}

func (s *stepLog) write(rec any) error {
	if s.f == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("log %s: %w", s.path, err)
	}
	s.w.Write(b)
	if err := s.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("log %s: %w", s.path, err)
	}
	return nil
}

func (s *stepLog) flush() error {
	if s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("log %s: %w", s.path, err)
	}
	return nil
}

// close flushes and closes the log; later calls do nothing.
func (s *stepLog) close() error {
	if s.f == nil {
		return nil
	}
	err := s.flush()
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("log %s: %w", s.path, cerr)
	}
	s.f = nil
	return err
}

// truncateLines keeps the first keep complete lines of path (all of them
// must be there) and drops the rest, a torn last line included. A missing
// file is fine when nothing is to be kept.
func truncateLines(path string, keep int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && keep == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	end := 0
	for n := 0; n < keep; n++ {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			return fmt.Errorf("%s has %d complete lines, the checkpoint is at step %d (remove the checkpoint to start over)", path, n, keep)
		}
		end += i + 1
	}
	if end == len(data) {
		return nil
	}
	return atomicfile.WriteFile(path, data[:end])
}

// ReadLog reads the records of a Loop's JSONL log. A torn last line (a
// crash while appending) is ignored; any other undecodable line is an error.
func ReadLog[R any](path string) ([]R, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []R
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r R
		if err := json.Unmarshal(line, &r); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("log %s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
