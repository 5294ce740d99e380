package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/tflite"
)

func benchCommand() *command {
	var backend string
	var threads int
	var opts profiler.BenchOptions
	var perOp, asJSON bool
	var seed uint64
	var importFile string
	var bm benchModelFlags
	return &command{
		name:    "bench",
		summary: "time a .tflite model like TFLite's benchmark_model (count, min, max, mean, std, p50, p90 in us)",
		usage:   "--backend xnnpack|ref|benchmark-model [--delegate D] [--threads N] [--warmup-runs N] [--runs N] [--min-secs S] [--per-op] [--json] m.tflite | --import benchmark_model.log [--json]",
		example: "edgenas bench --backend xnnpack --threads 1 --runs 100 --per-op model.tflite\nedgenas bench --backend benchmark-model --benchmark-model /data/local/tmp/benchmark_model --delegate nnapi model.tflite\nedgenas bench --import pixel6-nnapi.log --json",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&backend, "backend", "xnnpack", "backend: xnnpack, ref or benchmark-model (TFLite's tool)")
			fs.IntVar(&threads, "threads", 1, threadsUsage())
			fs.IntVar(&opts.WarmupRuns, "warmup-runs", 1, "minimum warm-up runs")
			fs.Float64Var(&opts.WarmupMinSecs, "warmup-min-secs", 0.5, "minimum warm-up seconds")
			fs.IntVar(&opts.Runs, "runs", 50, "minimum timed runs")
			fs.Float64Var(&opts.MinSecs, "min-secs", 1.0, "minimum timed seconds")
			fs.Float64Var(&opts.MaxSecs, "max-secs", 150, "stop timing after this many seconds")
			fs.BoolVar(&perOp, "per-op", false, "print the per-operator table (which node ran where)")
			fs.Uint64Var(&seed, "seed", 0, "seed of the random input")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			fs.StringVar(&importFile, "import", "", "read a saved TFLite benchmark_model output (stderr) instead of timing a model")
			bm.register(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if importFile != "" {
				return benchImport(e, importFile, args, asJSON)
			}
			if len(args) != 1 {
				return usagef("bench takes one model file, got %d arguments", len(args))
			}
			if err := checkThreads(threads); err != nil {
				return err
			}
			tool, err := bm.options(backend, threads)
			if err != nil {
				return err
			}
			if tool != nil {
				return benchWithTool(ctx, e, *tool, args[0], benchmodel.Runs{WarmupRuns: opts.WarmupRuns, WarmupMinSecs: opts.WarmupMinSecs,
					Runs: opts.Runs, MinSecs: opts.MinSecs, MaxSecs: opts.MaxSecs, OpProfiling: perOp}, asJSON)
			}
			it, err := loadModel(ctx, args[0], backend, threads)
			if err != nil {
				return err
			}
			defer it.Close()
			if err := profiler.FillRandomInputs(it, seed); err != nil {
				return err
			}
			res, err := profiler.Bench(ctx, it, opts)
			if ierr := interrupted(ctx); ierr != nil {
				return fmt.Errorf("bench %s: %w", args[0], ierr)
			}
			if err != nil {
				return fmt.Errorf("bench %s: %w", args[0], err)
			}
			var macs int64
			for i := range it.Model().Operators {
				macs += tflite.OpMACs(it.Model(), i)
			}
			gmacs := 0.0
			if res.Inference.Mean > 0 {
				gmacs = float64(macs) / (res.Inference.Mean * 1e3)
			}
			if asJSON {
				out := map[string]any{"model": args[0], "backend": backend, "threads": threads, "macs": macs,
					"gmacs_per_s": gmacs, "first_us": res.FirstMicros, "warmup": res.Warmup, "inference": res.Inference}
				if perOp {
					out["nodes"] = res.Nodes
				}
				return writeJSON(e.stdout, out)
			}
			printBench(e.stdout, args[0], backend, threads, macs, gmacs, res, perOp)
			return nil
		},
	}
}

func printBench(w io.Writer, model, backend string, threads int, macs int64, gmacs float64, res profiler.BenchResult, perOp bool) {
	s := res.Inference
	fmt.Fprintf(w, "model %s on %s, %d thread(s), %.1f MMACs\n", model, backend, threads, float64(macs)/1e6)
	fmt.Fprintf(w, "First inference: %.0f us\n", res.FirstMicros)
	fmt.Fprintf(w, "Warmup: count=%d mean=%.1f us\n", res.Warmup.Count, res.Warmup.Mean)
	fmt.Fprintf(w, "Inference: count=%d min=%.1f max=%.1f avg=%.1f std=%.1f p50=%.1f p90=%.1f (us)\n",
		s.Count, s.Min, s.Max, s.Mean, s.Std, s.P50, s.P90)
	fmt.Fprintf(w, "Throughput: %.2f GMAC/s\n", gmacs)
	if !perOp {
		return
	}
	fmt.Fprintln(w, "\nPer-operator profile (timed runs):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAN ON\tOPS\tAVG US\t%\tCDF %")
	cdf := 0.0
	for _, n := range res.Nodes {
		cdf += n.Percent
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\n", n.Name, n.Backend, opRange(n.Ops), n.AvgMicros, n.Percent, cdf)
	}
	tw.Flush()
}

// opRange renders operator indices compactly: "3", "0-12", "4,7".
func opRange(ops []int) string {
	if len(ops) == 0 {
		return "-"
	}
	contiguous := true
	for i := 1; i < len(ops); i++ {
		if ops[i] != ops[i-1]+1 {
			contiguous = false
		}
	}
	if len(ops) == 1 {
		return fmt.Sprint(ops[0])
	}
	if contiguous {
		return fmt.Sprintf("%d-%d", ops[0], ops[len(ops)-1])
	}
	return fmt.Sprint(ops)
}
