package slots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"edgenas/firmware/bundle"
)

// Supervisor runs the active slot's agent and carries out updates: when the
// installer has staged a new bundle it stops the agent, starts the new slot
// on trial, and commits it when the new agent marks itself good before the
// deadline, or restores the previous slot and records why.
type Supervisor struct {
	Store *Store
	// Args are the arguments after `edgenas agent`.
	Args []string
	// Deadline is how long an agent on trial has to connect and report healthy (default 60 s).
	Deadline time.Duration
	// Poll is how often the state files are looked at (default 200 ms).
	Poll time.Duration
	// Stdout and Stderr receive the agent's output (default: discarded).
	Stdout, Stderr io.Writer
	Logger         *slog.Logger
}

func (sv *Supervisor) defaults() {
	if sv.Deadline <= 0 {
		sv.Deadline = 60 * time.Second
	}
	if sv.Poll <= 0 {
		sv.Poll = 200 * time.Millisecond
	}
	if sv.Stdout == nil {
		sv.Stdout = io.Discard
	}
	if sv.Stderr == nil {
		sv.Stderr = io.Discard
	}
	if sv.Logger == nil {
		sv.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// child is one running agent process.
type child struct {
	cmd  *exec.Cmd
	done chan error
	slot string
}

func (sv *Supervisor) start(slot string, m bundle.Manifest) (*child, error) {
	argv := bundle.Command(sv.Store.SlotDir(slot), m, append([]string{"agent"}, sv.Args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = sv.Store.Data()
	cmd.Env = append(os.Environ(), EnvDir+"="+sv.Store.Root(), EnvSlot+"="+slot)
	cmd.Stdout, cmd.Stderr = sv.Stdout, sv.Stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent from slot %s: %w", slot, err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1), slot: slot}
	go func() { c.done <- cmd.Wait() }()
	sv.Logger.Info("agent started", "slot", slot, "version", m.Version, "pid", cmd.Process.Pid)
	return c, nil
}

// stop asks the agent to shut down (SIGTERM) and kills it after a grace period.
func (sv *Supervisor) stop(c *child) {
	terminate(c.cmd)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		kill(c.cmd)
		<-c.done
	}
}

// Run supervises until ctx ends, then stops the agent.
func (sv *Supervisor) Run(ctx context.Context) error {
	sv.defaults()
	var c *child
	defer func() {
		if c != nil {
			sv.stop(c)
		}
	}()
	backoff := time.Second
	for ctx.Err() == nil {
		st, err := sv.Store.State()
		if err != nil {
			return err
		}
		j, err := sv.Store.Journal()
		if err != nil {
			return err
		}
		if st.Trial == nil || st.Trial.Outcome != "" {
			if j != nil && j.Phase == PhaseStaged && j.Version > st.Version && j.Slot != st.Active &&
				(st.Trial == nil || st.Trial.Version != j.Version) {
				st.Trial = &Trial{Slot: j.Slot, Version: j.Version, Manifest: j.Bundle}
				if err := sv.Store.saveState(st); err != nil {
					return err
				}
				continue
			}
		}
		if st.Trial != nil && st.Trial.Outcome == "" {
			if c != nil {
				sv.stop(c)
				c = nil
			}
			if c, err = sv.trial(ctx, st); err != nil {
				return err
			}
			continue
		}
		if c == nil {
			if c, err = sv.start(st.Active, st.Manifest); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case err := <-c.done:
			sv.Logger.Warn("agent exited; restarting", "slot", c.slot, "err", err, "after", backoff)
			c = nil
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		case <-time.After(sv.Poll):
			backoff = time.Second
		}
	}
	return nil
}

// trial runs the slot on trial until it marks itself good (committed: the
// running child is returned) or fails (rolled back: nil).
func (sv *Supervisor) trial(ctx context.Context, st State) (*child, error) {
	t := st.Trial
	t.Attempts++
	if t.Attempts > MaxTrialAttempts {
		return nil, sv.end(st, OutcomeRolledBack, fmt.Sprintf("trial of version %d interrupted %d times", t.Version, t.Attempts-1))
	}
	if err := sv.Store.saveState(st); err != nil {
		return nil, err
	}
	if slot, v, ok := sv.Store.good(); ok && slot == t.Slot && v == t.Version {
		// Marked good, then the supervisor died before committing.
		return nil, sv.end(st, OutcomeCommitted, "")
	}
	os.Remove(filepath.Join(sv.Store.Root(), goodF))
	c, err := sv.start(t.Slot, t.Manifest)
	if err != nil {
		return nil, sv.end(st, OutcomeRolledBack, err.Error())
	}
	deadline := time.NewTimer(sv.Deadline)
	defer deadline.Stop()
	tick := time.NewTicker(sv.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Shutting down mid-trial: the trial resumes at the next start.
			sv.stop(c)
			return nil, nil
		case err := <-c.done:
			return nil, sv.end(st, OutcomeRolledBack, fmt.Sprintf("new agent (version %d) exited before reporting healthy: %v", t.Version, err))
		case <-deadline.C:
			sv.stop(c)
			return nil, sv.end(st, OutcomeRolledBack, fmt.Sprintf("new agent (version %d) did not connect and report healthy within %s", t.Version, sv.Deadline))
		case <-tick.C:
			if slot, v, ok := sv.Store.good(); ok && slot == t.Slot && v == t.Version {
				return c, sv.end(st, OutcomeCommitted, "")
			}
		}
	}
}

// end records a trial's outcome; committing switches the active slot.
func (sv *Supervisor) end(st State, outcome, reason string) error {
	t := st.Trial
	t.Outcome, t.Reason, t.Ended = outcome, reason, time.Now().UTC()
	if outcome == OutcomeCommitted {
		st.Previous, st.PrevVer = st.Active, st.Version
		st.Active, st.Version, st.Manifest = t.Slot, t.Version, t.Manifest
		if err := sv.Store.setCurrent(t.Slot); err != nil {
			return err
		}
		sv.Logger.Info("update committed", "slot", t.Slot, "version", t.Version)
	} else {
		sv.Logger.Warn("update rolled back", "slot", st.Active, "version", st.Version, "reason", reason)
		if err := sv.Store.setCurrent(st.Active); err != nil {
			return err
		}
	}
	if err := sv.Store.saveState(st); err != nil {
		return errors.Join(fmt.Errorf("trial of version %d: %s", t.Version, outcome), err)
	}
	return nil
}
