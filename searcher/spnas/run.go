package spnas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
)

// Files a search run writes into its directory.
const (
	ArchFile       = "arch.txt"
	LogFile        = "log.jsonl"
	PlotFile       = "progress.png"
	CheckpointFile = "supernet.ckpt"
	ResultFile     = "result.json"
)

// CheckpointEvery is how many steps a run goes between checkpoints.
const CheckpointEvery = 50

// Run drives a search to completion in dir, resuming from dir's checkpoint
// if there is one: it appends each step to the JSON log, checkpoints every
// CheckpointEvery steps and on cancellation, and at the end writes the
// architecture, the result and the progress plot. onStep (may be nil) sees
// every step.
func Run(ctx context.Context, s *Searcher, dir string, onStep func(StepLog)) (Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("search run: %w", err)
	}
	ckpt := filepath.Join(dir, CheckpointFile)
	if _, err := s.Resume(ckpt); err != nil {
		return Result{}, err
	}
	prior, start := priorSeconds(dir, s.Step), time.Now()
	logPath := filepath.Join(dir, LogFile)
	if err := truncateLog(logPath, s.Step); err != nil {
		return Result{}, err
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return Result{}, fmt.Errorf("search log: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	save := func() error {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("search log: %w", err)
		}
		if err := s.Save(ckpt); err != nil {
			return err
		}
		return saveTiming(dir, s.Step, prior+time.Since(start).Seconds())
	}
	for !s.Done() {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return Result{}, errors.Join(err, serr)
			}
			return Result{}, fmt.Errorf("search interrupted at step %d of %d (resumable from %s): %w", s.Step, s.Total, ckpt, err)
		}
		l, err := s.TrainStep()
		if err != nil {
			return Result{}, err
		}
		if err := enc.Encode(l); err != nil {
			return Result{}, fmt.Errorf("search log: %w", err)
		}
		if onStep != nil {
			onStep(l)
		}
		if s.Step%CheckpointEvery == 0 {
			if err := save(); err != nil {
				return Result{}, err
			}
		}
	}
	if err := save(); err != nil {
		return Result{}, err
	}
	res, err := s.Result()
	if err != nil {
		return Result{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ArchFile), []byte(res.Arch+"\n")); err != nil {
		return Result{}, err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, ResultFile), append(b, '\n')); err != nil {
		return Result{}, err
	}
	logs, err := ReadLog(logPath)
	if err != nil {
		return Result{}, err
	}
	if err := Plot(logs, s.Cfg.TargetMS, filepath.Join(dir, PlotFile)); err != nil {
		return Result{}, err
	}
	rc := RunCandidates{Method: "spnas", Space: s.RT.Space.Name, TargetMS: s.Cfg.TargetMS, Seed: s.Cfg.Seed,
		LatencyModel: s.RT.LatencyModel(), SearchSeconds: prior + time.Since(start).Seconds(), Candidates: []RunCandidate{{Arch: res.Arch, PredictedMS: res.TableMS}}}
	if err := WriteCandidates(dir, rc); err != nil {
		return Result{}, err
	}
	return res, nil
}

// truncateLog drops log lines of steps >= keep (written after the
// checkpoint being resumed), so the log matches the resumed state.
func truncateLog(path string, keep int) error {
	logs, err := ReadLog(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range logs {
		if l.Step < keep {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// ReadLog reads a search log (a torn last line, from a crash, is ignored).
func ReadLog(path string) ([]StepLog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []StepLog
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l StepLog
		if err := json.Unmarshal(line, &l); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("search log %s line %d: %w", path, i+1, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// Plot draws the search progress as the paper does: the decoded
// architecture's predicted runtime and the training accuracy (moving
// average over 25 steps) against steps. Both are in percent on one axis,
// the runtime relative to the target (or to the first step's runtime when
// there is no target), so the target is the 100% line.
func Plot(logs []StepLog, targetMS float64, path string) error {
	if len(logs) == 0 {
		return fmt.Errorf("plot %s: empty search log", path)
	}
	ref := targetMS
	label := "runtime (% of target)"
	if ref <= 0 {
		ref, label = logs[0].ArchMS, "runtime (% of initial)"
	}
	var xs, rs, as []float64
	var sum float64
	const win = 25
	for i, l := range logs {
		sum += l.Acc
		if i >= win {
			sum -= logs[i-win].Acc
		}
		xs = append(xs, float64(l.Step))
		rs = append(rs, 100*l.ArchMS/ref)
		as = append(as, 100*sum/float64(min(i+1, win)))
	}
	fig := chart.Figure{
		Title: "Single-Path NAS search", XLabel: "step", YLabel: "%",
		Series: []chart.Series{{Name: label, X: xs, Y: rs, Line: true}, {Name: "train accuracy (%)", X: xs, Y: as, Line: true}},
	}
	if targetMS > 0 {
		fig.HLines = []chart.Ref{{Label: fmt.Sprintf("target %.3g ms", targetMS), Y: 100}}
	}
	return fig.Save(path)
}

// CandidatesFile is the run-directory contract every search method writes
// (spnas, foxnas, random) and `edgenas evaluate` reads.
const CandidatesFile = "candidates.json"

// RunCandidates is the content of CandidatesFile: what a search run found
// and what it cost. Candidates[0] is the run's pick.
type RunCandidates struct {
	Method        string  `json:"method"`
	Space         string  `json:"space"`
	TargetMS      float64 `json:"target_ms"`
	Seed          uint64  `json:"seed"`
	SearchSeconds float64 `json:"search_seconds"`
	// LatencyModel says what PredictedMS means (lut.SpaceRuntime.LatencyModel):
	// a plain LUT sum, or a calibrated prediction of measured latency.
	LatencyModel string         `json:"latency_model,omitempty"`
	Candidates   []RunCandidate `json:"candidates"`
}

// RunCandidate is one architecture a run proposes, with its predicted latency.
type RunCandidate struct {
	Arch        string  `json:"arch"`
	PredictedMS float64 `json:"predicted_ms"`
}

// WriteCandidates writes rc to dir's CandidatesFile atomically.
func WriteCandidates(dir string, rc RunCandidates) error {
	if len(rc.Candidates) == 0 {
		return fmt.Errorf("write %s: no candidates", filepath.Join(dir, CandidatesFile))
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, CandidatesFile), err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, CandidatesFile), append(b, '\n'))
}

// ReadCandidates reads and checks dir's CandidatesFile.
func ReadCandidates(dir string) (RunCandidates, error) {
	path := filepath.Join(dir, CandidatesFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return RunCandidates{}, err
	}
	var rc RunCandidates
	if err := json.Unmarshal(b, &rc); err != nil {
		return RunCandidates{}, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case rc.Method == "" || rc.Space == "":
		return RunCandidates{}, fmt.Errorf("read %s: method and space are required", path)
	case len(rc.Candidates) == 0:
		return RunCandidates{}, fmt.Errorf("read %s: no candidates", path)
	}
	for i, c := range rc.Candidates {
		if c.Arch == "" {
			return RunCandidates{}, fmt.Errorf("read %s: candidate %d has no arch", path, i)
		}
	}
	return rc, nil
}

// timingFile keeps a search's accumulated wall time across resumed
// invocations, so search_seconds is the whole search's cost.
const timingFile = "search_seconds.json"

type runTiming struct {
	Seconds float64 `json:"seconds"`
	Step    int     `json:"step"`
}

// priorSeconds is the wall time earlier invocations spent reaching the
// resumed step (0 for a fresh run or when the record is of another step).
func priorSeconds(dir string, step int) float64 {
	if step == 0 {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, timingFile))
	if err != nil {
		return 0
	}
	var t runTiming
	if json.Unmarshal(b, &t) != nil || t.Step != step {
		return 0
	}
	return t.Seconds
}

func saveTiming(dir string, step int, seconds float64) error {
	b, _ := json.Marshal(runTiming{Seconds: seconds, Step: step})
	return atomicfile.WriteFile(filepath.Join(dir, timingFile), b)
}
