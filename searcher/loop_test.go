package searcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/nn"
)

// toy is a deterministic training: each step draws from a seeded generator
// and adds the draw to a running sum, and advances a fake clock by a
// second, so elapsed time is exact.
type toy struct {
	src   *rand.PCG
	rng   *rand.Rand
	sum   float64
	step  int
	clock time.Time
	fail  int // Step fails at this step (0: never)
}

type toyRec struct {
	Step int     `json:"step"`
	X    float64 `json:"x"`
}

type toyState struct {
	Sum float64
	Src []byte
}

func newToy(seed uint64) *toy {
	src := rand.NewPCG(seed, 1)
	return &toy{src: src, rng: rand.New(src), clock: time.Unix(1e9, 0)}
}

func (t *toy) loop(dir string) *Loop[toyRec] {
	return &Loop[toyRec]{
		Name: "toy", Tag: "toy:seed=1", Checkpoint: filepath.Join(dir, "toy.ckpt"), Log: filepath.Join(dir, "toy.jsonl"),
		Every: 3, Total: 7,
		Step: func() (toyRec, error) {
			if t.fail > 0 && t.step == t.fail {
				return toyRec{}, fmt.Errorf("toy step %d: failed", t.step)
			}
			x := t.rng.Float64()
			t.sum += x
			t.step++
			t.clock = t.clock.Add(time.Second)
			return toyRec{Step: t.step - 1, X: x}, nil
		},
		Snapshot: func() (*nn.Checkpoint, error) {
			src, err := t.src.MarshalBinary()
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(toyState{Sum: t.sum, Src: src})
			return &nn.Checkpoint{Extra: map[string][]byte{"toy": b}}, err
		},
		Restore: func(ck *nn.Checkpoint) error {
			var st toyState
			if err := json.Unmarshal(ck.Extra["toy"], &st); err != nil {
				return err
			}
			t.sum, t.step = st.Sum, int(ck.Step)
			return t.src.UnmarshalBinary(st.Src)
		},
		now: func() time.Time { return t.clock },
	}
}

// straightToy runs the toy uninterrupted and returns its end state and log.
func straightToy(t *testing.T) (float64, Outcome, string) {
	dir := t.TempDir()
	tt := newToy(1)
	out, err := tt.loop(dir).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tt.sum, out, readFile(t, filepath.Join(dir, "toy.jsonl"))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkpointSeconds(t *testing.T, path string) (int64, float64) {
	t.Helper()
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	var st loopState
	if err := json.Unmarshal(ck.Extra[loopExtra], &st); err != nil {
		t.Fatal(err)
	}
	return ck.Step, st.Seconds
}

// An interrupted loop resumes to exactly the end state, log and elapsed
// time of an uninterrupted one, however it was interrupted.
func TestLoopResumesToTheSameEnd(t *testing.T) {
	wantSum, wantOut, wantLog := straightToy(t)
	if wantOut != (Outcome{Steps: 7, Resumed: 0, Seconds: 7}) || strings.Count(wantLog, "\n") != 7 {
		t.Fatalf("uninterrupted: %+v, log %q", wantOut, wantLog)
	}
	tests := []struct {
		name string
		// interrupt runs the first invocation, which must fail with errWant.
		interrupt func(t *testing.T, tt *toy, l *Loop[toyRec]) error
		errWant   string
		// ckStep and ckSeconds are the checkpoint the interruption leaves.
		ckStep    int64
		ckSeconds float64
		// afterwards damages the log as a crash could.
		afterwards func(t *testing.T, log string)
		resumed    int
		seconds    float64
	}{
		{
			name: "context cancelled between checkpoints",
			interrupt: func(t *testing.T, tt *toy, l *Loop[toyRec]) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				l.OnStep = func(r toyRec) {
					if r.Step == 3 {
						cancel()
					}
				}
				_, err := l.Run(ctx)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v does not wrap context.Canceled", err)
				}
				return err
			},
			errWant: "toy interrupted at step 4 of 7 (resumable from", ckStep: 4, ckSeconds: 4, resumed: 4, seconds: 7,
		},
		{
			name: "crash after a checkpoint, torn log line",
			interrupt: func(t *testing.T, tt *toy, l *Loop[toyRec]) error {
				tt.fail = 5
				_, err := l.Run(context.Background())
				return err
			},
			errWant: "toy step 5: failed", ckStep: 3, ckSeconds: 3,
			afterwards: func(t *testing.T, log string) {
				f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				// Lines of the lost steps 3 and 4, then half a line.
				fmt.Fprintf(f, "{\"step\":3,\"x\":0.5}\n{\"step\":4,\"x\":0.5}\n{\"step\":5,\"x")
				f.Close()
			},
			resumed: 3, seconds: 7,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := newToy(1)
			l := first.loop(dir)
			if err := tc.interrupt(t, first, l); err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Fatalf("interrupted run: error %v, want %q", err, tc.errWant)
			}
			if step, secs := checkpointSeconds(t, l.Checkpoint); step != tc.ckStep || secs != tc.ckSeconds {
				t.Errorf("checkpoint at step %d with %v s, want step %d with %v s", step, secs, tc.ckStep, tc.ckSeconds)
			}
			if tc.afterwards != nil {
				tc.afterwards(t, l.Log)
			}
			second := newToy(1)
			var seen []int
			l2 := second.loop(dir)
			l2.OnStep = func(r toyRec) { seen = append(seen, r.Step) }
			out, err := l2.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if second.sum != wantSum || out != (Outcome{Steps: 7, Resumed: tc.resumed, Seconds: tc.seconds}) {
				t.Errorf("resumed: sum %v, %+v; uninterrupted sum %v, want resumed from %d with %v s", second.sum, out, wantSum, tc.resumed, tc.seconds)
			}
			if len(seen) != 7-tc.resumed || seen[0] != tc.resumed {
				t.Errorf("resumed run stepped %v, want steps %d..6", seen, tc.resumed)
			}
			if got := readFile(t, l.Log); got != wantLog {
				t.Errorf("resumed log\n%s\nuninterrupted\n%s", got, wantLog)
			}
			if step, secs := checkpointSeconds(t, l.Checkpoint); step != 7 || secs != tc.seconds {
				t.Errorf("final checkpoint at step %d with %v s", step, secs)
			}
			// A complete run reruns nothing and changes nothing.
			third := newToy(1)
			out3, err := third.loop(dir).Run(context.Background())
			if err != nil || out3 != (Outcome{Steps: 7, Resumed: 7, Seconds: tc.seconds}) || out3.Ran() != 0 || third.sum != wantSum {
				t.Errorf("rerun of a complete run: %+v (sum %v), %v", out3, third.sum, err)
			}
			if got := readFile(t, l.Log); got != wantLog {
				t.Errorf("rerun changed the log")
			}
			recs, err := ReadLog[toyRec](l.Log)
			if err != nil || len(recs) != 7 || recs[6].Step != 6 {
				t.Errorf("ReadLog: %d records, %v", len(recs), err)
			}
		})
	}
}

// A loop refuses what it cannot resume exactly, saying why.
func TestLoopRefuses(t *testing.T) {
	finished := func(t *testing.T) string {
		dir := t.TempDir()
		if _, err := newToy(1).loop(dir).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the run directory
		edit  func(l *Loop[toyRec])
		want  string
	}{
		{name: "another recipe's checkpoint", setup: finished, edit: func(l *Loop[toyRec]) { l.Tag = "toy:seed=2" }, want: `checkpoint is of "toy:seed=1", this run is "toy:seed=2"`},
		{name: "checkpoint beyond the schedule", setup: finished, edit: func(l *Loop[toyRec]) { l.Total = 5 }, want: "checkpoint at step 7, outside this run's 0..5"},
		{name: "log shorter than the checkpoint", setup: func(t *testing.T) string {
			dir := finished(t)
			if err := os.WriteFile(filepath.Join(dir, "toy.jsonl"), []byte("{}\n{}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, edit: func(l *Loop[toyRec]) { l.Total = 8 }, want: "has 2 complete lines, the checkpoint is at step 7"},
		{name: "checkpoint without loop state", setup: func(t *testing.T) string {
			dir := t.TempDir()
			ck := &nn.Checkpoint{Arch: "toy:seed=1", Step: 2, Extra: map[string][]byte{}}
			if err := ck.Save(filepath.Join(dir, "toy.ckpt")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, want: "has no loop state"},
		{name: "corrupt checkpoint", setup: func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "toy.ckpt"), []byte("junk"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, want: "bad magic"},
		{name: "no total", setup: func(t *testing.T) string { return t.TempDir() }, edit: func(l *Loop[toyRec]) { l.Total = 0 }, want: "0 total steps"},
		{name: "negative interval", setup: func(t *testing.T) string { return t.TempDir() }, edit: func(l *Loop[toyRec]) { l.Every = -1 }, want: "interval -1"},
		{name: "no step function", setup: func(t *testing.T) string { return t.TempDir() }, edit: func(l *Loop[toyRec]) { l.Step = nil }, want: "are all required"},
		{name: "no checkpoint path", setup: func(t *testing.T) string { return t.TempDir() }, edit: func(l *Loop[toyRec]) { l.Checkpoint = "" }, want: "no checkpoint path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newToy(1).loop(tc.setup(t))
			if tc.edit != nil {
				tc.edit(l)
			}
			if _, err := l.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Without a log file the loop still checkpoints and resumes.
func TestLoopWithoutLog(t *testing.T) {
	wantSum, _, _ := straightToy(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	tt := newToy(1)
	l := tt.loop(dir)
	l.Log, l.Every = "", 0
	l.OnStep = func(r toyRec) {
		if r.Step == 1 {
			cancel()
		}
	}
	if _, err := l.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	tt2 := newToy(1)
	l2 := tt2.loop(dir)
	l2.Log = ""
	out, err := l2.Run(context.Background())
	if err != nil || tt2.sum != wantSum || out.Resumed != 2 {
		t.Errorf("resumed without a log: %+v sum %v (want %v), %v", out, tt2.sum, wantSum, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d files, want only the checkpoint", len(ents))
	}
}

// The log reader and truncation never panic, and truncation keeps exactly
// the requested complete lines or says it cannot.
func FuzzLogTruncate(f *testing.F) {
	f.Add([]byte("{\"step\":0}\n{\"step\":1}\n{\"st"), 1)
	f.Add([]byte(""), 0)
	f.Add([]byte("\n\n\n"), 2)
	f.Add([]byte("not json\n{}\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, keep int) {
		if keep < 0 || keep > 1000 {
			return
		}
		path := filepath.Join(t.TempDir(), "log.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadLog[toyRec](path)
		complete := strings.Count(string(data), "\n")
		err := truncateLines(path, keep)
		if (err != nil) != (complete < keep) {
			t.Fatalf("%d complete lines, keep %d: error %v", complete, keep, err)
		}
		if err == nil {
			got := readFile(t, path)
			if strings.Count(got, "\n") != keep || !strings.HasPrefix(string(data), got) || (keep > 0 && !strings.HasSuffix(got, "\n")) {
				t.Fatalf("kept %q of %q (keep %d)", got, data, keep)
			}
		}
	})
}

// killChild names the environment variable that makes the test binary run
// the child side of TestLoopSurvivesKill in the directory it names.
const killChild = "SEARCHER_LOOP_KILL_CHILD"

// A process killed (SIGKILL: no deferred flush, no final save) in the
// middle of a step resumes from its last checkpoint to the end state, log
// and elapsed time of an uninterrupted run.
func TestLoopSurvivesKill(t *testing.T) {
	const total, blockAt = 30, 20
	if dir := os.Getenv(killChild); dir != "" {
		tt := newToy(1)
		l := tt.loop(dir)
		l.Total = total
		step := l.Step
		l.Step = func() (toyRec, error) {
			if tt.step == blockAt {
				fmt.Println("blocked")
				io.ReadAll(os.Stdin) // until the parent kills this process
			}
			return step()
		}
		_, err := l.Run(context.Background())
		t.Fatalf("child loop returned (%v); it should have been killed", err)
	}
	straightDir := t.TempDir()
	straight := newToy(1)
	sl := straight.loop(straightDir)
	sl.Total = total
	if _, err := sl.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoopSurvivesKill$")
	cmd.Env = append(os.Environ(), killChild+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "blocked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v), want blocked", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Checkpoints at every 3 steps: the last one before step 20 is 18.
	if step, secs := checkpointSeconds(t, filepath.Join(dir, "toy.ckpt")); step != 18 || secs != 18 {
		t.Fatalf("killed child left a checkpoint at step %d with %v s, want 18 and 18 s", step, secs)
	}
	resumed := newToy(1)
	l := resumed.loop(dir)
	l.Total = total
	out, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resumed.sum != straight.sum || out != (Outcome{Steps: total, Resumed: 18, Seconds: total}) {
		t.Errorf("resumed after kill: sum %v, %+v; uninterrupted sum %v", resumed.sum, out, straight.sum)
	}
	if got, want := readFile(t, l.Log), readFile(t, sl.Log); got != want {
		t.Errorf("resumed log\n%s\nuninterrupted\n%s", got, want)
	}
}
