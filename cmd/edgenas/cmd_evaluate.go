package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	goruntime "runtime"

	"edgenas/dataset/fmnist"
	"edgenas/profiler"
	"edgenas/searcher/evaluate"
	"edgenas/searcher/recipe"
)

// stringList is a repeatable flag (--runs A --runs B); positional arguments
// add to it as well, so a shell glob works: --runs runs/cmp/*.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func evaluateCommand() *command {
	var runs stringList
	var work, out, method string
	var asJSON bool
	var ef evalFleetFlags
	var maxSecs, percentile float64
	cfg := evaluate.Config{Recipe: recipe.Default(), Seeds: 1, Backend: "xnnpack", Threads: 1}
	cfg.PTQ.Calib = 256
	return &command{
		name:    "evaluate",
		summary: "judge search runs: train every candidate with the fixed recipe, quantize to int8, time it here, compare with random (RI)",
		usage:   "--runs DIR... --work WDIR [--class C --broker URL [--replicas R]] [--seeds K] [--epochs E] [--data-frac F] [--calib N] [--out ODIR] [--json]",
		example: "edgenas evaluate --work runs/eval-work --out runs/eval --runs runs/cmp/spnas-0.28-s1 runs/cmp/spnas-0.28-s2 runs/cmp/random-0.28",
		flags: func(fs *flag.FlagSet) {
			fs.Var(&runs, "runs", "search run directory (repeatable; further positional arguments are runs too)")
			fs.StringVar(&work, "work", "", "work directory caching trainings and int8 models (a rerun reuses finished ones)")
			fs.StringVar(&out, "out", "", "output directory for results.json, results.csv (per training), summary.csv (per group, RI with its bootstrap 95% interval) and the plots")
			fs.BoolVar(&cfg.PicksOnly, "picks-only", false, "train only each search run's pick (a FOX-NAS run lists its top-k); random runs keep all")
			fs.BoolVar(&cfg.MatchLatency, "match-latency", false, fmt.Sprintf("compare each method with the random run nearest its picks' mean predicted latency (within %g%%), not the random run of its target", 100*evaluate.MatchTol))
			fs.IntVar(&cfg.Seeds, "seeds", 1, "training seeds per candidate: 1 = a search run's own seed (random runs: 1); K > 1 = seeds 1..K for all")
			fs.Float64Var(&cfg.Recipe.Epochs, "epochs", cfg.Recipe.Epochs, "training epochs (same recipe as 'edgenas train')")
			fs.Float64Var(&cfg.Recipe.DataFrac, "data-frac", cfg.Recipe.DataFrac, "fraction of the training split per epoch")
			fs.IntVar(&cfg.Recipe.Batch, "batch", cfg.Recipe.Batch, "minibatch size")
			fs.Float64Var(&cfg.Recipe.LR, "lr", cfg.Recipe.LR, "peak learning rate (RMSProp, cosine)")
			fs.IntVar(&cfg.PTQ.Calib, "calib", cfg.PTQ.Calib, "calibration images for int8 quantization")
			fs.StringVar(&method, "calib-method", "minmax", "activation range: minmax or percentile")
			fs.Float64Var(&percentile, "percentile", 99.99, "P for --calib-method percentile")
			fs.IntVar(&cfg.TestImages, "test-images", 0, "validation and test images for every accuracy (0: all; fewer only for quick checks)")
			fs.Float64Var(&maxSecs, "max-secs", profiler.DefaultProtocol().MaxSecs, "latency measurement: most seconds per model")
			fs.IntVar(&cfg.Rounds, "rounds", 3, "latency measurement rounds, each with newly shuffled groups; a model's latency is its median over rounds")
			fs.IntVar(&cfg.Group, "group", 5, "models timed together, interleaved (more thrash each other's caches; lut validate uses 5 too)")
			fs.IntVar(&cfg.Workers, "workers", goruntime.GOMAXPROCS(0), "interpreters sharing the int8 accuracy run (latency is always 1 thread, one model at a time)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
			ef.register(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error {
			cfg.Runs = append(append([]string(nil), runs...), args...)
			if len(cfg.Runs) == 0 || work == "" {
				return usagef("evaluate needs --runs DIR... and --work WDIR")
			}
			if cfg.Seeds <= 0 || cfg.PTQ.Calib <= 0 || cfg.TestImages < 0 || !(maxSecs > 0) || cfg.Workers <= 0 || cfg.Group <= 0 || cfg.Rounds <= 0 {
				return usagef("evaluate needs --seeds > 0, --calib > 0, --test-images >= 0, --max-secs > 0, --group > 0, --rounds > 0 and --workers > 0")
			}
			m, err := evaluate.ParseMethod(method)
			if err != nil {
				return usagef("%v", err)
			}
			cfg.PTQ.Opts.Method, cfg.PTQ.Opts.Percentile = m, percentile
			cfg.Work, cfg.Progress = work, e.stderr
			cfg.Protocol = profiler.DefaultProtocol()
			cfg.Protocol.MaxSecs = maxSecs
			cfg.Protocol.MinSecs = min(cfg.Protocol.MinSecs, maxSecs)
			if cfg.Timer, err = ef.timer(e, cfg.Threads, cfg.Protocol); err != nil {
				return err
			}
			// Fail on bad run directories before loading the dataset.
			if _, _, err := evaluate.Plan(cfg); err != nil {
				return err
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			rep, err := evaluate.Evaluate(ctx, cfg, data)
			if err != nil {
				return err
			}
			if out != "" {
				if err := rep.Write(out); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(e.stdout, rep)
			}
			return printEvaluation(e.stdout, rep, out)
		},
	}
}

// printEvaluation prints the report's tables, where latencies were measured
// and the files written to out ("" for none).
func printEvaluation(w io.Writer, rep *evaluate.Report, out string) error {
	if err := rep.Print(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "int8 latencies measured on %s\n", rep.MeasuredOn)
	if out != "" {
		fmt.Fprintf(w, "RI intervals: percentile bootstrap 95%%, architectures resampled with replacement, %d resamples, seed %d\n",
			evaluate.BootstrapResamples, evaluate.BootstrapSeed)
		fmt.Fprintf(w, "wrote %s, %s, %s, %s, %s, %s\n", filepath.Join(out, evaluate.ResultsJSON), filepath.Join(out, evaluate.ResultsCSV),
			filepath.Join(out, evaluate.SummaryCSV), filepath.Join(out, evaluate.AccLatencyPNG), filepath.Join(out, evaluate.RIPNG),
			filepath.Join(out, evaluate.PredMeasPNG))
	}
	return nil
}
