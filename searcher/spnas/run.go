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
		return s.Save(ckpt)
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
