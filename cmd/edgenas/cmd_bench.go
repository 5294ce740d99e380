package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"

	"edgenas/internal/atomicfile"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// benchFlags are bench's settings; benchmark_model's flag names are
// registered as aliases so its scripts run edgenas unchanged.
type benchFlags struct {
	backend, graph, cpus, csv string
	threads                   int
	opts                      profiler.BenchOptions
	perOp, asJSON             bool
	seed                      uint64
	importFile                string
	tool                      benchModelFlags
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.backend, "backend", "xnnpack", "backend: xnnpack, ref or benchmark-model (TFLite's tool)")
	fs.IntVar(&f.threads, "threads", 1, threadsUsage())
	fs.IntVar(&f.threads, "num_threads", 1, "alias of --threads (benchmark_model)")
	fs.StringVar(&f.cpus, "cpus", "", "pin the measuring threads to these CPUs, e.g. 0-3,6 (sched_setaffinity)")
	fs.IntVar(&f.opts.WarmupRuns, "warmup-runs", 1, "minimum warm-up runs")
	fs.IntVar(&f.opts.WarmupRuns, "warmup_runs", 1, "alias of --warmup-runs (benchmark_model)")
	fs.Float64Var(&f.opts.WarmupMinSecs, "warmup-min-secs", 0.5, "minimum warm-up seconds")
	fs.Float64Var(&f.opts.WarmupMinSecs, "warmup_min_secs", 0.5, "alias of --warmup-min-secs (benchmark_model)")
	fs.IntVar(&f.opts.Runs, "runs", 50, "minimum timed runs")
	fs.IntVar(&f.opts.Runs, "num_runs", 50, "alias of --runs (benchmark_model)")
	fs.Float64Var(&f.opts.MinSecs, "min-secs", 1.0, "minimum timed seconds")
	fs.Float64Var(&f.opts.MinSecs, "min_secs", 1.0, "alias of --min-secs (benchmark_model)")
	fs.Float64Var(&f.opts.MaxSecs, "max-secs", 150, "stop timing after this many seconds")
	fs.Float64Var(&f.opts.MaxSecs, "max_secs", 150, "alias of --max-secs (benchmark_model)")
	fs.BoolVar(&f.perOp, "per-op", false, "time every operator as its own node (its own XNNPACK runtime) and print benchmark_model's op tables")
	fs.BoolVar(&f.perOp, "enable_op_profiling", false, "alias of --per-op (benchmark_model)")
	fs.StringVar(&f.csv, "profiling-output-csv", "", "with --per-op: write the op tables as benchmark_model's CSV to this file")
	fs.StringVar(&f.csv, "profiling_output_csv_file", "", "alias of --profiling-output-csv (benchmark_model)")
	fs.StringVar(&f.graph, "graph", "", "the model file (benchmark_model's name for the argument)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the random input")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.StringVar(&f.importFile, "import", "", "read a saved TFLite benchmark_model output (stderr) instead of timing a model")
	f.tool.register(fs)
}

// check validates the flags and parses --cpus (nil when not given).
func (f *benchFlags) check(w io.Writer) ([]int, error) {
	if err := checkThreads(f.threads); err != nil {
		return nil, err
	}
	if f.csv != "" && !f.perOp {
		return nil, usagef("--profiling-output-csv needs --per-op (or --enable_op_profiling)")
	}
	return pinnedCPUs(w, f.cpus, f.threads)
}

func benchCommand() *command {
	var f benchFlags
	return &command{
		name:    "bench",
		summary: "time a .tflite model like TFLite's benchmark_model (count, min, max, mean, std, p50, p90 in us; per-operator tables)",
		usage: "--backend xnnpack|ref|benchmark-model [--delegate D] [--threads N] [--cpus LIST] [--warmup-runs N] [--runs N] [--min-secs S] [--per-op [--profiling-output-csv F]] [--json] m.tflite\n" +
			"  | --import benchmark_model.log [--json]\n" +
			"  benchmark_model's names work too: --graph, --num_runs, --warmup_runs, --num_threads, --min_secs, --max_secs, --warmup_min_secs,\n" +
			"  --enable_op_profiling, --profiling_output_csv_file",
		example: "edgenas bench --backend xnnpack --threads 1 --cpus 0 --runs 100 --per-op model.tflite\n" +
			"edgenas bench --graph=model.tflite --num_threads=2 --enable_op_profiling=true --profiling_output_csv_file=ops.csv\n" +
			"edgenas bench --backend benchmark-model --benchmark-model /data/local/tmp/benchmark_model --delegate nnapi model.tflite\n" +
			"edgenas bench --import pixel6-nnapi.log --json",
		flags: f.register,
		run: func(ctx context.Context, e *env, args []string) error {
			if f.importFile != "" {
				return benchImport(e, f.importFile, args, f.asJSON)
			}
			if f.graph != "" {
				args = append([]string{f.graph}, args...)
			}
			if len(args) != 1 {
				return usagef("bench takes one model file (or --graph), got %d", len(args))
			}
			cpus, err := f.check(e.stderr)
			if err != nil {
				return err
			}
			tool, err := f.tool.options(f.backend, f.threads)
			if err != nil {
				return err
			}
			if tool != nil {
				tool.CPUs = cpus
				return benchWithTool(ctx, e, *tool, args[0], benchmodel.Runs{WarmupRuns: f.opts.WarmupRuns, WarmupMinSecs: f.opts.WarmupMinSecs,
					Runs: f.opts.Runs, MinSecs: f.opts.MinSecs, MaxSecs: f.opts.MaxSecs, OpProfiling: f.perOp}, f.asJSON)
			}
			b, err := backends.Lookup(f.backend)
			if err != nil {
				return usagef("%v", err)
			}
			m, err := tflite.ReadFile(args[0])
			if err != nil {
				return err
			}
			res, err := profiler.RunModelBench(ctx, profiler.ModelBench{Model: m, Backend: b, Threads: f.threads, Options: f.opts,
				Seed: f.seed, CPUs: cpus, PerOp: f.perOp})
			if ierr := interrupted(ctx); ierr != nil {
				return fmt.Errorf("bench %s: %w", args[0], ierr)
			}
			if err != nil {
				return fmt.Errorf("bench %s: %w", args[0], err)
			}
			if f.csv != "" {
				var buf bytes.Buffer
				if err := res.PerOp.Profile.WriteCSV(&buf); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(f.csv, buf.Bytes()); err != nil {
					return fmt.Errorf("--profiling-output-csv: %w", err)
				}
			}
			var macs int64
			for i := range m.Operators {
				macs += tflite.OpMACs(m, i)
			}
			gmacs := 0.0
			if res.Inference.Mean > 0 {
				gmacs = float64(macs) / (res.Inference.Mean * 1e3)
			}
			if f.asJSON {
				out := map[string]any{"model": args[0], "backend": f.backend, "threads": f.threads, "macs": macs,
					"gmacs_per_s": gmacs, "init_us": res.InitMicros, "first_us": res.FirstMicros, "warmup": res.Warmup,
					"inference": res.Inference, "conditions": res.Conditions, "cpus": cpus, "per_op": res.PerOp}
				return writeJSON(e.stdout, out)
			}
			return printBench(e.stdout, args[0], f.backend, f.threads, macs, gmacs, res)
		},
	}
}

func printBench(w io.Writer, model, backend string, threads int, macs int64, gmacs float64, res profiler.ModelBenchResult) error {
	s := res.Inference
	pinned := ""
	if len(res.Conditions.PinnedCPUs) > 0 {
		pinned = ", pinned to CPUs " + profiler.FormatCPUList(res.Conditions.PinnedCPUs)
	}
	fmt.Fprintf(w, "model %s on %s, %d thread(s)%s, %.1f MMACs\n", model, backend, threads, pinned, float64(macs)/1e6)
	fmt.Fprintf(w, "First inference: %.0f us\n", res.FirstMicros)
	fmt.Fprintf(w, "Warmup: count=%d mean=%.1f us\n", res.Warmup.Count, res.Warmup.Mean)
	fmt.Fprintf(w, "Inference: count=%d min=%.1f max=%.1f avg=%.1f std=%.1f p50=%.1f p90=%.1f (us)\n",
		s.Count, s.Min, s.Max, s.Mean, s.Std, s.P50, s.P90)
	fmt.Fprintf(w, "Throughput: %.2f GMAC/s\n", gmacs)
	fmt.Fprintln(w, profiler.InferenceTimings(res.InitMicros, res.BenchResult))
	if res.PerOp == nil {
		return nil
	}
	p := res.PerOp
	fmt.Fprintln(w, "Operator-wise Profiling Info for Regular Benchmark Runs:")
	if err := p.Profile.WriteTables(w); err != nil {
		return err
	}
	ratio := 0.0
	if p.WholeMicros > 0 {
		ratio = p.SumMicros / p.WholeMicros
	}
	if _, err := fmt.Fprintf(w, "Sum of %d operators (each its own node): %.1f us; whole graph (avg): %.1f us; sum/whole %.3f; per-operator graph (avg): %.1f us\n",
		len(p.Profile.Rows), p.SumMicros, p.WholeMicros, ratio, p.GraphMicros); err != nil {
		return err
	}
	ran := map[string]int{}
	for _, r := range p.Profile.Rows {
		ran[r.Backend]++
	}
	_, err := fmt.Fprintf(w, "Operators run by XNNPACK: %d, by the reference kernels (XNNPACK refused them): %d\n", ran["xnnpack"], ran["ref"])
	return err
}
