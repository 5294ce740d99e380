package autoshrink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
	"edgenas/internal/progress"
	"edgenas/nn"
	"edgenas/searcher"
)

// Result is what a finished search reports.
type Result struct {
	Candidates searcher.RunCandidates
	Snapshots  []Snapshot
	// Pick is Candidates.Candidates[0]'s snapshot; MetTarget says whether
	// it is at or under the target (without a target: true).
	Pick      Snapshot
	MetTarget bool
	// Resumed is the step this invocation resumed from.
	Resumed int
}

// Run searches in dir with cfg on a proxy drawn from data, resuming dir's
// checkpoint if any (one checkpoint per edge removal, through searcher.Loop),
// and writes LogFile, SnapshotsFile, the two step plots,
// searcher.CandidatesFile (the ranked snapshots, the pick first) and
// ArchFile (the pick, for `edgenas train --arch @FILE`).
// Progress lines (with ETA) go to progressOut (nil discards).
func Run(ctx context.Context, cfg Config, data *fmnist.Data, dir string, progressOut io.Writer) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("autoshrink: %w", err)
	}
	proxy, err := NewProxy(data, cfg.Proxy.TrainPerClass, cfg.Proxy.ValPerClass, cfg.Seed)
	if err != nil {
		return Result{}, err
	}
	s, err := NewSearch(cfg, proxy)
	if err != nil {
		return Result{}, err
	}
	logOut := progressOut
	if logOut == nil {
		logOut = io.Discard
	}
	next := 0
	// The bar counts candidate trainings (k per step), so the ETA moves
	// within a step too; a step with fewer candidates counts as k.
	bar := progress.New(progressOut, "autoshrink", s.Steps()*cfg.K)
	s.OnCandidate = func(step int, c Candidate) {
		bar.Add(1, fmt.Sprintf("step %d -%s: acc %.3f (%d epochs, %s)", step, c.Edge, c.ValAcc, c.Epochs, c.Exit))
	}
	loop := searcher.Loop[StepRecord]{
		Name: "search autoshrink", Tag: cfg.tag(), Checkpoint: filepath.Join(dir, CheckpointFile),
		Log: filepath.Join(dir, LogFile), Every: 1, Total: s.Steps(),
		Step: func() (StepRecord, error) {
			rec, err := s.Step(ctx, next)
			if err == nil {
				next++
			}
			return rec, err
		},
		Snapshot: s.snapshot,
		Restore: func(ck *nn.Checkpoint) error {
			next = int(ck.Step)
			bar.Add(next*cfg.K-bar.Done(), "resumed")
			return s.restore(ck)
		},
		OnStep: func(rec StepRecord) {
			note := "idle"
			if sn := rec.Snapshot; sn != nil {
				note = fmt.Sprintf("-%s: %d edges, acc %.3f, %.3f ms, score %.4f", sn.Removed, sn.Edges, sn.ValAcc, sn.PredictedMS, sn.Score)
				// One unthrottled line per kept removal: the search's log on stderr.
				fmt.Fprintf(logOut, "autoshrink step %d kept %s\n", rec.Step, note)
			}
			bar.Add((rec.Step+1)*cfg.K-bar.Done(), note)
			if rec.Snapshot != nil {
				// A failed plot must not stop the search; Run redraws at the end.
				_ = writeOutputs(dir, cfg, s.Snapshots())
			}
		},
	}
	out, err := loop.Run(ctx)
	if err != nil {
		return Result{}, err
	}
	return finish(dir, cfg, s.Snapshots(), out)
}

// finish writes a completed search's outputs and ranks its snapshots.
func finish(dir string, cfg Config, snaps []Snapshot, out searcher.Outcome) (Result, error) {
	if len(snaps) == 0 {
		return Result{}, fmt.Errorf("autoshrink: the search kept no topology (k=%d, %d steps)", cfg.K, out.Steps)
	}
	if err := writeOutputs(dir, cfg, snaps); err != nil {
		return Result{}, err
	}
	res := Result{Snapshots: snaps, Resumed: out.Resumed}
	ranked := Ranked(snaps, cfg.TargetMS)
	res.Pick = ranked[0]
	_, res.MetTarget = Pick(snaps, cfg.TargetMS)
	rc := searcher.RunCandidates{Method: "autoshrink", Space: cfg.Space.Name, TargetMS: cfg.TargetMS, Seed: cfg.Seed,
		SearchSeconds: out.Seconds, LatencyModel: cfg.Latency.Name()}
	for _, sn := range ranked {
		rc.Candidates = append(rc.Candidates, searcher.RunCandidate{Arch: sn.Arch, PredictedMS: sn.PredictedMS})
	}
	if err := searcher.WriteCandidates(dir, rc); err != nil {
		return Result{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ArchFile), []byte(res.Pick.Arch+"\n")); err != nil {
		return Result{}, err
	}
	res.Candidates = rc
	return res, nil
}

// writeOutputs writes SnapshotsFile and the step plots: best score and
// proxy accuracy, and predicted latency, against the edges left.
func writeOutputs(dir string, cfg Config, snaps []Snapshot) error {
	if err := atomicfile.Write(filepath.Join(dir, SnapshotsFile), func(w io.Writer) error {
		return writeIndented(w, snaps)
	}); err != nil {
		return err
	}
	score := chart.Series{Name: "score of the kept removal", Line: true}
	acc := chart.Series{Name: "proxy val accuracy", Line: true}
	lat := chart.Series{Name: "predicted latency", Line: true}
	for _, sn := range snaps {
		x := float64(sn.Edges)
		score.X, score.Y = append(score.X, x), append(score.Y, sn.Score)
		acc.X, acc.Y = append(acc.X, x), append(acc.Y, sn.ValAcc)
		lat.X, lat.Y = append(lat.X, x), append(lat.Y, sn.PredictedMS)
	}
	title := fmt.Sprintf("AutoShrink %s seed %d", cfg.Space.Name, cfg.Seed)
	if err := (chart.Figure{Title: title, XLabel: "edges left", YLabel: "accuracy / score",
		Series: []chart.Series{score, acc}}).Save(filepath.Join(dir, ScorePlotFile)); err != nil {
		return err
	}
	lf := chart.Figure{Title: title, XLabel: "edges left", YLabel: "predicted latency (ms)", Series: []chart.Series{lat}}
	if cfg.TargetMS > 0 {
		lf.HLines = []chart.Ref{{Label: "target", Y: cfg.TargetMS}}
	}
	return lf.Save(filepath.Join(dir, LatencyPlotFile))
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
