package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
	"edgenas/profiler"
)

// instantMeasure answers every key of a job at once with plausible numbers:
// the lock test is about the host, not the measurements.
func instantMeasure(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
	out := make([]profiler.LayerResult, 0, len(job.Keys))
	for i, k := range job.Keys {
		us := 100 + float64(len(k))
		out = append(out, profiler.LayerResult{Key: k, Measurement: profiler.Measurement{
			Stats: profiler.Stats{Count: 6, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us},
			Batch: 1, Conditions: profiler.Conditions{Backend: "fake", Threads: job.Threads, NumCPU: 1}}})
		progress(i+1, len(job.Keys))
	}
	return out, nil
}

// Two `fleet profile` processes on one --out against a real broker: the
// second refuses at once naming the first's pid; the first finishes; the
// job table stays readable (a third run resumes it with nothing left to do).
func TestFleetProfileOneWriterPerTable(t *testing.T) {
	ids := []string{"lock-a1", "lock-a2"}
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: ids})
	out := filepath.Join(t.TempDir(), "c.db")
	args := []string{"fleet", "profile", "--space", "spnas-fmnist", "--class", "lockclass", "--out", out,
		"--broker", b.URL(), "--password", fleettest.Host.Password, "--fast", "--timeout", "60s"}

	first := startCLI(t, args...)
	// The first holds the lock once its pid is in the lock file; with no
	// agents online yet it waits there.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(fleet.LockPath(out)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(first.cmd.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first fleet profile never took the lock; stderr %q", first.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	second := startCLI(t, args...)
	if code := second.wait(t, 20*time.Second); code != 1 ||
		!strings.Contains(second.stderr.String(), fmt.Sprintf("held by process %d", first.cmd.Process.Pid)) ||
		!strings.Contains(second.stderr.String(), "another fleet profile is writing it") {
		t.Fatalf("second fleet profile: exit %d, stderr %q; want 1 and a refusal naming pid %d", code, second.stderr.String(), first.cmd.Process.Pid)
	}

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	for _, id := range ids {
		a, err := agent.New(agent.Config{Broker: b.URL(), ID: id, Class: "lockclass", Password: fleettest.AgentPassword,
			DataDir: filepath.Join(t.TempDir(), id), Backend: "ref", Measure: instantMeasure, Version: "test",
			Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	if code := first.wait(t, 60*time.Second); code != 0 || !strings.Contains(first.stdout.String(), "18/18 jobs done, 0 failed") {
		t.Fatalf("first fleet profile: exit %d\nstdout %q\nstderr %q", code, first.stdout.String(), first.stderr.String())
	}

	// The journal replays: a third run resumes the same run with all done.
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 || !strings.Contains(stdout, "18/18 jobs done") || !strings.Contains(stdout, "resumed true") {
		t.Fatalf("third fleet profile: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}

// A job table damaged inside its first line is refused with the line and
// the way out, and the store is not started over; --restart moves the table
// aside and runs anew.
func TestFleetProfileCorruptJournal(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	out := filepath.Join(t.TempDir(), "c.db")
	journal := fleet.JournalPath(out)
	damaged := []byte(`{"e":"run","spec":{"run":"r0123`)
	if err := os.WriteFile(journal, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"fleet", "profile", "--space", "spnas-fmnist", "--class", "c", "--out", out,
		"--broker", b.URL(), "--password", fleettest.Host.Password, "--fast", "--timeout", "1s"}
	code, _, stderr := runCLI(t, args...)
	if code != 1 || !strings.Contains(stderr, "job table is corrupt: line 1 is unreadable") || !strings.Contains(stderr, "--restart") {
		t.Fatalf("exit %d, stderr %q; want the line and --restart", code, stderr)
	}
	if got, _ := os.ReadFile(journal); string(got) != string(damaged) {
		t.Fatalf("the refused job table was changed to %q", got)
	}
	// --restart: no agents, so the new run times out, but it did start.
	code, _, stderr = runCLI(t, append(args, "--restart")...)
	if !strings.Contains(stderr, "job table moved to "+journal+".discarded-") {
		t.Fatalf("--restart: exit %d, stderr %q", code, stderr)
	}
	matches, _ := filepath.Glob(journal + ".discarded-*")
	if len(matches) != 1 {
		t.Fatalf("discarded tables %v, want one", matches)
	}
	if got, _ := os.ReadFile(matches[0]); string(got) != string(damaged) {
		t.Errorf("the discarded table is %q, want the original", got)
	}
	if got, err := os.ReadFile(journal); err != nil || !strings.HasPrefix(string(got), `{"e":"run"`) {
		t.Errorf("the new run's table: %q, %v", got, err)
	}
}
