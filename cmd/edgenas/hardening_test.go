package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliProcess is the edgenas CLI as a real subprocess (this test binary in
// CLI mode), its output captured. The process is killed when the test ends.
type cliProcess struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	ready          string
	done           chan error
}

// startCLI starts the CLI with args; wait for readiness with waitReady.
func startCLI(t *testing.T, args ...string) *cliProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &cliProcess{ready: filepath.Join(t.TempDir(), "ready"), done: make(chan error, 1)}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(os.Environ(), beCLI+"=1", cliReady+"="+p.ready)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitReady returns once the CLI's signal handling is installed.
func (p *cliProcess) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(p.ready); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: not ready after 30 s; stderr %q", p.cmd.Args[1:], p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait returns the exit code, failing the test if the process is still
// running after d or was killed by a signal.
func (p *cliProcess) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // keep it for the cleanup
		var ee *exec.ExitError
		if err == nil {
			return 0
		}
		if errors.As(err, &ee) && ee.Exited() {
			return ee.ExitCode()
		}
		t.Fatalf("%v: %v (not a clean exit); stderr %q", p.cmd.Args[1:], err, p.stderr.String())
	case <-time.After(d):
		t.Fatalf("%v: still running after %s; stderr %q", p.cmd.Args[1:], d, p.stderr.String())
	}
	return -1
}

// genModel writes a small spnas-fmnist int8 model.
func genModel(t *testing.T, dir string) string {
	t.Helper()
	m := filepath.Join(dir, "m.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "2", "-o", m); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	return m
}

// A thread count past the documented bound is a usage error before any
// thread starts.
func TestRunAndBenchBoundThreads(t *testing.T) {
	m := genModel(t, t.TempDir())
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{name: "run 100000", args: []string{"run", "--backend", "ref", "--threads", "100000", m}, code: 2, wantErr: "--threads 100000 out of range: want 1..64"},
		{name: "run 65", args: []string{"run", "--backend", "ref", "--threads", "65", m}, code: 2, wantErr: "want 1..64"},
		{name: "bench 0", args: []string{"bench", "--backend", "ref", "--threads", "0", m}, code: 2, wantErr: "want 1..64"},
		{name: "run 64", args: []string{"run", "--backend", "ref", "--threads", "64", m}, code: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.wantErr) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, errs, tc.code, tc.wantErr)
			}
		})
	}
}

// SIGTERM and SIGINT reach bench's timing loop: a bench set to run for ten
// minutes exits promptly with an error naming the signal.
func TestBenchStopsOnSignal(t *testing.T) {
	m := genModel(t, t.TempDir())
	tests := []struct {
		name string
		sig  syscall.Signal
		want string
	}{
		{name: "SIGTERM", sig: syscall.SIGTERM, want: "interrupted: terminated signal received"},
		{name: "SIGINT", sig: syscall.SIGINT, want: "interrupted: interrupt signal received"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startCLI(t, "bench", "--backend", "ref", "--runs", "100000000", "--min-secs", "600", "--max-secs", "600", m)
			p.waitReady(t)
			time.Sleep(300 * time.Millisecond) // into the timing loop (any earlier stage checks too)
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t, 15*time.Second); code != 1 || !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, p.stderr.String(), tc.want)
			}
			if p.stdout.Len() != 0 {
				t.Errorf("an interrupted bench printed results: %q", p.stdout.String())
			}
		})
	}
}

// run honours its context: once cancelled it stops before invoking and
// writes no output file.
func TestRunStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	m := genModel(t, dir)
	out := filepath.Join(dir, "out.bin")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("terminated signal received"))
	var so, se bytes.Buffer
	code := execute(ctx, &env{stdout: &so, stderr: &se}, []string{"run", "--backend", "ref", "--output", out, m})
	if code != 1 || !strings.Contains(se.String(), "interrupted: terminated signal received") {
		t.Fatalf("exit %d, stderr %q", code, se.String())
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled run wrote %s (%v)", out, err)
	}
}

// Every command that reads a model refuses a FIFO (or other non-regular
// file) at once with a clear error, instead of blocking in open(2) where no
// signal can reach it.
func TestModelReadersRefuseFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m.tflite")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	m := genModel(t, t.TempDir())
	tests := []struct {
		name string
		args []string
	}{
		{name: "model inspect", args: []string{"model", "inspect", fifo}},
		{name: "model compare", args: []string{"model", "compare", m, fifo, fifo}},
		{name: "run", args: []string{"run", "--backend", "ref", fifo}},
		{name: "run --input", args: []string{"run", "--backend", "ref", "--input", fifo, m}},
		{name: "bench", args: []string{"bench", "--backend", "ref", fifo}},
		{name: "deploy", args: []string{"deploy", "--model", fifo, "--to", "class:x", "--state", filepath.Join(dir, "state")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startCLI(t, tc.args...)
			if code := p.wait(t, 20*time.Second); code != 1 || !strings.Contains(p.stderr.String(), "not a regular file (it is a named pipe (FIFO))") {
				t.Fatalf("exit %d, stderr %q; want 1 and a named pipe refusal", code, p.stderr.String())
			}
		})
	}
}
