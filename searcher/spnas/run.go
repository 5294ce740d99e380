package spnas

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
	"edgenas/searcher"
)

// Files a search run writes into its directory (and searcher.CandidatesFile).
const (
	ArchFile       = "arch.txt"
	LogFile        = "log.jsonl"
	PlotFile       = "progress.png"
	CheckpointFile = "supernet.ckpt"
	ResultFile     = "result.json"
)

// Run drives a search to completion in dir through searcher.Loop, resuming
// from dir's checkpoint if there is one: each step is a line of LogFile,
// the checkpoint (CheckpointFile) is saved every searcher.CheckpointEvery
// steps and on cancellation, and at the end Run writes the architecture,
// the result, the progress plot and the run's candidates. onStep (may be
// nil) sees every step.
func Run(ctx context.Context, s *Searcher, dir string, onStep func(StepLog)) (Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("search run: %w", err)
	}
	logPath := filepath.Join(dir, LogFile)
	loop := searcher.Loop[StepLog]{
		Name: "search", Tag: s.tag(), Checkpoint: filepath.Join(dir, CheckpointFile), Log: logPath, Total: s.Total,
		Step: s.TrainStep, Snapshot: s.Snapshot, Restore: s.Restore, OnStep: onStep,
	}
	out, err := loop.Run(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := s.Result()
	if err != nil {
		return Result{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ArchFile), []byte(res.Arch+"\n")); err != nil {
		return Result{}, err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, ResultFile), res); err != nil {
		return Result{}, err
	}
	logs, err := searcher.ReadLog[StepLog](logPath)
	if err != nil {
		return Result{}, err
	}
	if err := Plot(logs, s.Cfg.TargetMS, filepath.Join(dir, PlotFile)); err != nil {
		return Result{}, err
	}
	rc := searcher.RunCandidates{Method: "spnas", Space: s.RT.Space.Name, TargetMS: s.Cfg.TargetMS, Seed: s.Cfg.Seed,
		LatencyModel: s.RT.LatencyModel(), SearchSeconds: out.Seconds, Candidates: []searcher.RunCandidate{{Arch: res.Arch, PredictedMS: res.TableMS}}}
	if err := searcher.WriteCandidates(dir, rc); err != nil {
		return Result{}, err
	}
	return res, nil
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
