package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/space"
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
		{name: "profile 1000", args: []string{"profile", "--space", "spnas-fmnist", "--backend", "ref", "--threads", "1000", "--out", filepath.Join(t.TempDir(), "x.db")}, code: 2, wantErr: "--threads 1000 out of range"},
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

// Every command that reads a model (or a table or calibration file) refuses
// a FIFO (or other non-regular file) at once with a clear error, instead of
// blocking in open(2) where no signal can reach it.
func TestReadersRefuseFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m.tflite")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	m := genModel(t, t.TempDir())
	lutPath, _ := syntheticLUT(t, space.MustLookup("spnas-fmnist"))
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
		{name: "lut import", args: []string{"lut", "import", "--lut", filepath.Join(dir, "i.db"), "--format", "csv", fifo}},
		{name: "lut predict --spnas", args: []string{"lut", "predict", "--spnas", fifo, "--fixed-ms", "1", "--space", "spnas-fmnist", "--arch", "random"}},
		{name: "lut predict --calibration", args: []string{"lut", "predict", "--lut", lutPath, "--calibration", fifo, "--space", "spnas-fmnist", "--arch", "random"}},
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

// lut show and lut predict only read: an empty or foreign file is refused as
// "not an edgenas LUT" and its bytes are the same afterwards.
func TestLUTReadersDoNotWrite(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	arch := "k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6+se"
	tests := []struct {
		name, path, want string
		args             []string
	}{
		{name: "show empty", path: empty, want: "not an edgenas LUT (empty file)", args: []string{"lut", "show"}},
		{name: "show foreign", path: foreign, want: "not an edgenas LUT (no schema_version table)", args: []string{"lut", "show"}},
		{name: "predict empty", path: empty, want: "not an edgenas LUT (empty file)", args: []string{"lut", "predict", "--space", "spnas-fmnist", "--arch", arch}},
		{name: "predict foreign", path: foreign, want: "not an edgenas LUT", args: []string{"lut", "predict", "--space", "spnas-fmnist", "--arch", arch}},
		{name: "export foreign", path: foreign, want: "not an edgenas LUT", args: []string{"lut", "export"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := sha256File(t, tc.path)
			code, _, errs := runCLI(t, append(tc.args, "--lut", tc.path)...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errs, tc.want)
			}
			if after := sha256File(t, tc.path); after != before {
				t.Errorf("%s changed: sha256 %x -> %x", tc.path, before, after)
			}
		})
	}
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// A table entry edited to an infinite or negative median, or a calibration
// with an absurd coefficient or trailing data, makes lut predict fail with
// an error naming the key or field, never print a latency.
func TestLUTPredictRefusesBadNumbers(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	arch := "k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6+se"
	a, err := s.Parse(arch)
	if err != nil {
		t.Fatal(err)
	}
	victim := a.Layers()[0].Key()
	calib := func(coef, tail string) string {
		return `{"form":"scale","features":["lutsum_ms","const"],"coef":` + coef +
			`,"device":"synthetic","backend":"xnnpack","threads":1,"samples":12,"rmse_ms":0.01,"se_encoding":` + strconv.Itoa(space.SEEncoding) + `}` + tail
	}
	tests := []struct {
		name   string
		update string // SQL run on the store (CHECKs off)
		calib  string // calibration file contents, if any
		want   string
	}{
		{name: "infinite p50", update: "UPDATE entries SET p50 = 1e999, p90 = 1e999, max = 1e999 WHERE key = ?", want: "entry " + victim + ": p50 +Inf"},
		{name: "negative p50", update: "UPDATE entries SET p50 = -2 WHERE key = ?", want: "entry " + victim + ": p50 -2"},
		{name: "negative slope", calib: calib("[-1000,0.5]", ""), want: "coef[0] (lutsum_ms) = -1000"},
		{name: "huge coefficient", calib: calib("[1,1e308]", ""), want: "coef[1] (const) = 1e+308"},
		{name: "trailing garbage", calib: calib("[1,0.5]", "}}garbage"), want: "trailing data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := syntheticLUT(t, s)
			args := []string{"lut", "predict", "--lut", path, "--space", "spnas-fmnist", "--arch", arch}
			if tc.update != "" {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec("PRAGMA ignore_check_constraints = ON"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(tc.update, victim); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			if tc.calib != "" {
				cf := filepath.Join(t.TempDir(), "calibrated.json")
				if err := os.WriteFile(cf, []byte(tc.calib), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--calibration", cf)
			}
			code, out, errs := runCLI(t, args...)
			if code != 1 || !strings.Contains(errs, tc.want) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1, no output and %q", code, out, errs, tc.want)
			}
		})
	}
}
