package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"edgenas/dataset/fmnist"
	"edgenas/internal/progress"
	"edgenas/lut"
	"edgenas/searcher"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

func searchCommand() *command {
	return &command{
		name:    "search",
		summary: "architecture search: Single-Path NAS, and the random baseline at equal latency",
		subs:    []*command{searchSPNASCommand(), searchRandomCommand(), searchFoxNASCommand(), searchAutoShrinkCommand()},
	}
}

// calibrationHelp documents the --calibration option every search method shares.
const calibrationHelp = "calibrated predictor JSON (from 'edgenas lut validate'), folded into the table so targets are measured whole-model ms, not LUT sums"

// spaceRuntime loads the Single-Path runtime model of a space from a table
// store, with a calibration folded in when calibFile is set.
func spaceRuntime(tf *tableFlags, spaceName, calibFile string) (*spnas.Runtime, error) {
	s, err := space.Lookup(spaceName)
	if err != nil {
		return nil, usagef("%v", err)
	}
	tab, err := tf.table()
	if err != nil {
		return nil, err
	}
	sr, err := lut.NewSpaceRuntime(s, tab)
	if err != nil {
		return nil, fmt.Errorf("%w (measure it with 'edgenas profile --space %s --out %s')", err, s.Name, tf.store)
	}
	if calibFile != "" {
		c, err := lut.ReadCalibratedFile(calibFile, tab)
		if err != nil {
			return nil, err
		}
		if sr, err = sr.Calibrate(c); err != nil {
			return nil, fmt.Errorf("%s: %w", calibFile, err)
		}
	}
	return spnas.NewRuntime(sr)
}

func searchSPNASCommand() *command {
	var tf tableFlags
	var spaceName, out, calibFile string
	var asJSON bool
	cfg := spnas.DefaultConfig()
	return &command{
		name:    "spnas",
		summary: "Single-Path NAS on Fashion-MNIST with a measured latency table (resumable)",
		usage:   "--space S --lut X [--device D --backend B --threads N] [--calibration C.json] (--target-ms T | --lambda L) [--epochs 8] [--data-frac F] [--seed S] --out DIR [--json]",
		example: "edgenas search spnas --space spnas-fmnist --lut lut.db --target-ms 1.2 --out runs/spnas-1.2",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&calibFile, "calibration", "", calibrationHelp)
			fs.StringVar(&out, "out", "", "output directory (arch.txt, log.jsonl, progress.png, supernet.ckpt, result.json)")
			fs.Float64Var(&cfg.TargetMS, "target-ms", 0, "latency target in ms: lambda found by dual ascent")
			fs.Float64Var(&cfg.Lambda, "lambda", 0, "fixed latency-loss weight (without --target-ms), or the starting lambda")
			fs.Float64Var(&cfg.Eta, "eta", cfg.Eta, "dual-ascent step size per search step")
			fs.Float64Var(&cfg.Tol, "tol", cfg.Tol, "relative tolerance around the target")
			fs.Float64Var(&cfg.Epochs, "epochs", cfg.Epochs, "search epochs (the latency loss and dropout switch at 5/8 of them)")
			fs.Float64Var(&cfg.DataFrac, "data-frac", cfg.DataFrac, "fraction of the training split per epoch")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "minibatch size")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (RMSProp, weights and thresholds)")
			fs.Uint64Var(&cfg.Seed, "seed", 0, "seed (initialisation, data order, dropout)")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if out == "" {
				return usagef("search spnas needs --out DIR")
			}
			if cfg.TargetMS == 0 && cfg.Lambda == 0 {
				return usagef("search spnas needs --target-ms T (or a fixed --lambda L)")
			}
			scale := cfg.Epochs / 8
			cfg.LatencyEpoch, cfg.DropoutEpoch = 5*scale, 5*scale
			rt, err := spaceRuntime(&tf, spaceName, calibFile)
			if err != nil {
				return err
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			s, err := spnas.NewSearcher(cfg, rt, data.Train)
			if err != nil {
				return err
			}
			start := time.Now()
			bar := progress.New(e.stderr, "search "+out, s.Total)
			res, err := spnas.Run(ctx, s, out, func(l spnas.StepLog) {
				bar.Add(1, fmt.Sprintf("acc %.2f R %.3f ms lambda %.3g %s", l.Acc, l.ArchMS, l.Lambda, l.Arch))
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"result": res, "seconds": time.Since(start).Seconds(), "dir": out})
			}
			fmt.Fprintf(e.stdout, "%s\n", res.Arch)
			fmt.Fprintf(e.stdout, "%s %.3f ms, formula %.3f ms", rt.LatencyModel(), res.TableMS, res.FormulaMS)
			if res.TargetMS > 0 {
				fmt.Fprintf(e.stdout, ", target %.3f ms (%+.1f%%, within %.0f%%: %v)", res.TargetMS, 100*(res.TableMS/res.TargetMS-1), 100*cfg.Tol, res.Within)
			}
			fmt.Fprintf(e.stdout, "; lambda %.3g after %d steps, %.0f s\n", res.Lambda, res.Steps, time.Since(start).Seconds())
			return nil
		},
	}
}

func searchRandomCommand() *command {
	var tf tableFlags
	var spaceName, out, calibFile string
	var target, tol float64
	var count int
	var seed uint64
	var asJSON bool
	return &command{
		name:    "random",
		summary: "random architectures whose table latency is within a tolerance of a target",
		usage:   "--space S --lut X [--device D --backend B --threads N] [--calibration C.json] --target-ms T --count K [--tol 0.05] [--seed S] [--out DIR] [--json]",
		example: "edgenas search random --space spnas-fmnist --lut lut.db --target-ms 1.2 --count 5 --seed 1 --out runs/random-1.2",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&calibFile, "calibration", "", calibrationHelp)
			fs.Float64Var(&target, "target-ms", 0, "latency target in ms")
			fs.Float64Var(&tol, "tol", 0.05, "relative tolerance around the target")
			fs.IntVar(&count, "count", 5, "how many architectures")
			fs.Uint64Var(&seed, "seed", 0, "sampling seed")
			fs.StringVar(&out, "out", "", "run directory to write candidates.json into (for 'edgenas evaluate')")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if target <= 0 || count <= 0 || tol <= 0 {
				return usagef("search random needs --target-ms > 0, --count > 0 and --tol > 0")
			}
			if space.IsDAG(spaceName) {
				return dagSearchRandom(e, &tf, spaceName, calibFile, target, tol, count, seed, out, asJSON)
			}
			start := time.Now()
			rt, err := spaceRuntime(&tf, spaceName, calibFile)
			if err != nil {
				return err
			}
			cands, err := spnas.RandomWithin(rt, target, tol, count, seed)
			if err != nil {
				return err
			}
			r := randomRun{run: searcher.RunCandidates{Method: "random", Space: rt.Space.Name, TargetMS: target, Seed: seed,
				LatencyModel: rt.LatencyModel(), SearchSeconds: time.Since(start).Seconds()}, found: cands, header: "PREDICTED MS\tFORMULA MS\tARCH"}
			for _, c := range cands {
				r.add(c.Arch, c.TableMS, fmt.Sprintf("%.3f\t%.3f\t%s", c.TableMS, c.FormulaMS, c.Arch))
			}
			return r.report(e, out, asJSON)
		},
	}
}

// randomRun is what `search random` found, in a space of either kind.
type randomRun struct {
	run    searcher.RunCandidates // what --out records
	found  any                    // what --json prints
	header string                 // the table's tab-separated columns
	rows   []string
}

// add appends an architecture with its predicted latency and table row.
func (r *randomRun) add(arch string, predictedMS float64, row string) {
	r.run.Candidates = append(r.run.Candidates, searcher.RunCandidate{Arch: arch, PredictedMS: predictedMS})
	r.rows = append(r.rows, row)
}

// report writes the run directory (out, if set) and prints the result.
func (r *randomRun) report(e *env, out string, asJSON bool) error {
	if out != "" {
		if err := writeRunDir(out, r.run); err != nil {
			return err
		}
	}
	if asJSON {
		return writeJSON(e.stdout, r.found)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(e.stdout, "latency model: %s\n", r.run.LatencyModel)
	fmt.Fprintln(tw, r.header)
	for _, row := range r.rows {
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
