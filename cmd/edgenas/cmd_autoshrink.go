package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"edgenas/dataset/fmnist"
	"edgenas/lut"
	"edgenas/searcher"
	"edgenas/searcher/autoshrink"
	"edgenas/space"
)

// dagLatency loads the latency predictor of a DAG space from a table store:
// the calibrated predictor when calibFile is set, else the LUT sum. Every
// key the space needs must be in the table.
func dagLatency(tf *tableFlags, spaceName, calibFile string) (*space.DAGSpace, lut.DAGPredictor, error) {
	s, err := space.LookupDAG(spaceName)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	tab, err := tf.table()
	if err != nil {
		return nil, nil, err
	}
	sum, err := lut.NewLUTPredictor(tab)
	if err != nil {
		return nil, nil, err
	}
	if _, err := sum.PredictDAG(s.Full()); err != nil {
		return nil, nil, fmt.Errorf("%w (measure it with 'edgenas profile --space %s --out %s')", err, s.Name, tf.store)
	}
	if calibFile == "" {
		return s, sum, nil
	}
	c, err := lut.ReadCalibratedFile(calibFile, tab)
	if err != nil {
		return nil, nil, err
	}
	return s, c, nil
}

func searchAutoShrinkCommand() *command {
	var tf tableFlags
	var spaceName, out, calibFile string
	var asJSON bool
	cfg := autoshrink.DefaultConfig()
	return &command{
		name:    "autoshrink",
		summary: "AutoShrink: shrink a DAG cell one edge per step, candidates trained on a proxy, latency from a table (resumable)",
		usage: "--space S --lut X [--device D --backend B --threads N] [--calibration C.json] [--target-ms T] [--k 10] [--coef 0.1] " +
			"[--keep 0.01] [--train-per-class 500 --val-per-class 100 --epochs 20 --batch 128 --lr 4e-3 --patience 5] [--workers N] [--seed S] --out DIR [--json]",
		example: "edgenas search autoshrink --space autoshrink-fmnist --lut lut.db --calibration validate/calibrated.json --target-ms 0.2 --seed 1 --out runs/autoshrink-0.2-s1",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&spaceName, "space", "autoshrink-fmnist", "DAG search space")
			fs.StringVar(&calibFile, "calibration", "", "calibrated predictor JSON (from 'edgenas lut validate' on the DAG space); without it the plain LUT sum")
			fs.StringVar(&out, "out", "", "run directory (candidates.json, steps.jsonl, snapshots.json, steps-*.png, search.ckpt)")
			fs.Float64Var(&cfg.TargetMS, "target-ms", 0, "latency target: pick the best snapshot at or under it, stop once met and the score falls (0: none)")
			fs.IntVar(&cfg.K, "k", cfg.K, "candidate removals tried per step")
			fs.Float64Var(&cfg.Coef, "coef", cfg.Coef, "score = val accuracy - coef*log10(predicted ms): the reference's 0.1 per decade of MACs, applied to latency")
			fs.Float64Var(&cfg.KeepFraction, "keep", cfg.KeepFraction, "stop when live edges <= round(max edges * keep)")
			fs.IntVar(&cfg.Proxy.TrainPerClass, "train-per-class", cfg.Proxy.TrainPerClass, "proxy training images per class (from the training split)")
			fs.IntVar(&cfg.Proxy.ValPerClass, "val-per-class", cfg.Proxy.ValPerClass, "proxy validation images per class (held out from the training split)")
			fs.IntVar(&cfg.Proxy.Epochs, "epochs", cfg.Proxy.Epochs, "proxy epochs per candidate, at most")
			fs.IntVar(&cfg.Proxy.Batch, "batch", cfg.Proxy.Batch, "proxy minibatch size")
			fs.Float64Var(&cfg.Proxy.LR, "lr", cfg.Proxy.LR, "proxy Adam learning rate (constant)")
			fs.IntVar(&cfg.Proxy.Patience, "patience", cfg.Proxy.Patience, "epochs without a validation gain that end a candidate's training")
			fs.IntVar(&cfg.Workers, "workers", 0, "candidates trained at once (0: the machine's cores)")
			fs.Uint64Var(&cfg.Seed, "seed", 0, "seed (proxy subset, edge order, initialisations)")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if out == "" {
				return usagef("search autoshrink needs --out DIR")
			}
			if len(args) != 0 {
				return usagef("search autoshrink takes no positional arguments, got %q", args)
			}
			s, lat, err := dagLatency(&tf, spaceName, calibFile)
			if err != nil {
				return err
			}
			cfg.Space, cfg.Latency = s, lat
			if w := cfg.Proxy.Warning(); w != "" {
				fmt.Fprintln(e.stderr, "warning:", w)
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := autoshrink.Run(ctx, cfg, data, out, e.stderr)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"pick": res.Pick, "met_target": res.MetTarget, "snapshots": res.Snapshots,
					"search_seconds": res.Candidates.SearchSeconds, "resumed_from": res.Resumed, "dir": out})
			}
			fmt.Fprintf(e.stdout, "%s\n%d edges, proxy accuracy %.4f, %s %.4f ms, score %.4f (step %d)\n", res.Pick.Arch, res.Pick.Edges,
				res.Pick.ValAcc, lat.Name(), res.Pick.PredictedMS, res.Pick.Score, res.Pick.Step)
			if !res.MetTarget {
				fmt.Fprintf(e.stdout, "warning: no snapshot meets the %.4g ms target; the pick is the closest\n", cfg.TargetMS)
			}
			fmt.Fprintf(e.stdout, "%d steps, search %.0f s (this invocation %.0f s); %s\n", len(res.Snapshots),
				res.Candidates.SearchSeconds, time.Since(start).Seconds(), out)
			return nil
		},
	}
}

// dagSearchRandom is `search random` for a DAG space: random topologies
// within tol of the target's predicted latency.
func dagSearchRandom(e *env, tf *tableFlags, spaceName, calibFile string, target, tol float64, count int, seed uint64, out string, asJSON bool) error {
	start := time.Now()
	s, lat, err := dagLatency(tf, spaceName, calibFile)
	if err != nil {
		return err
	}
	snaps, err := autoshrink.RandomWithin(s, lat, target, tol, count, seed)
	if err != nil {
		return err
	}
	r := randomRun{run: searcher.RunCandidates{Method: "random", Space: s.Name, TargetMS: target, Seed: seed,
		LatencyModel: lat.Name(), SearchSeconds: time.Since(start).Seconds()}, found: snaps, header: "PREDICTED MS\tEDGES\tARCH"}
	for _, c := range snaps {
		r.add(c.Arch, c.PredictedMS, fmt.Sprintf("%.4f\t%d\t%s", c.PredictedMS, c.Edges, c.Arch))
	}
	return r.report(e, out, asJSON)
}

// writeRunDir creates a search run directory and writes its candidates.json.
func writeRunDir(dir string, rc searcher.RunCandidates) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("search %s: %w", rc.Method, err)
	}
	return searcher.WriteCandidates(dir, rc)
}
