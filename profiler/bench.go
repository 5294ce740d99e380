package profiler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"edgenas/runtime"
	"edgenas/tflite"
)

// BenchOptions mirror TFLite benchmark_model's run-count flags. The zero value
// takes benchmark_model's defaults.
type BenchOptions struct {
	WarmupRuns    int     // default 1
	WarmupMinSecs float64 // default 0.5
	Runs          int     // default 50
	MinSecs       float64 // default 1.0
	MaxSecs       float64 // default 150
}

func (o BenchOptions) withDefaults() BenchOptions {
	if o.WarmupRuns <= 0 {
		o.WarmupRuns = 1
	}
	if o.WarmupMinSecs < 0 {
		o.WarmupMinSecs = 0
	} else if o.WarmupMinSecs == 0 {
		o.WarmupMinSecs = 0.5
	}
	if o.Runs <= 0 {
		o.Runs = 50
	}
	if o.MinSecs == 0 {
		o.MinSecs = 1.0
	}
	if o.MaxSecs <= 0 {
		o.MaxSecs = 150
	}
	return o
}

// NodeStat is one execution node's average time over the timed runs.
type NodeStat struct {
	runtime.NodeProfile
	// FirstMicros is the node's time in the first timed run.
	FirstMicros float64 `json:"first_us"`
	AvgMicros   float64 `json:"avg_us"`
	Percent     float64 `json:"percent"`
}

// BenchResult is what Bench measured.
type BenchResult struct {
	FirstMicros float64    `json:"first_us"`
	Warmup      Stats      `json:"warmup"`
	Inference   Stats      `json:"inference"`
	Nodes       []NodeStat `json:"nodes,omitempty"`
	// RunsMicros are the timed runs in order (benchmark_model's first and
	// curr are the first and last).
	RunsMicros []float64 `json:"-"`
}

// Bench times it.Invoke the way benchmark_model does: warm-up runs until
// WarmupRuns and WarmupMinSecs are both reached, then timed runs while fewer
// than Runs were done OR less than MinSecs elapsed, never past MaxSecs.
// Inputs are whatever the caller set. Node timings cover the timed runs only.
func Bench(ctx context.Context, it runtime.Interpreter, opts BenchOptions) (BenchResult, error) {
	o := opts.withDefaults()
	var res BenchResult
	invoke := func() (time.Duration, error) {
		t0 := time.Now()
		err := it.Invoke()
		return time.Since(t0), err
	}
	d, err := invoke()
	if err != nil {
		return res, fmt.Errorf("first inference: %w", err)
	}
	res.FirstMicros = micros(d)
	var warm []time.Duration
	start := time.Now()
	for len(warm) < o.WarmupRuns || time.Since(start).Seconds() < o.WarmupMinSecs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if time.Since(start).Seconds() > o.MaxSecs {
			break
		}
		d, err := invoke()
		if err != nil {
			return res, fmt.Errorf("warm-up run %d: %w", len(warm), err)
		}
		warm = append(warm, d)
	}
	res.Warmup = Summarize(warm)
	it.ResetProfile()
	var runs []time.Duration
	var firstRun []runtime.NodeProfile
	start = time.Now()
	for len(runs) < o.Runs || time.Since(start).Seconds() < o.MinSecs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if time.Since(start).Seconds() > o.MaxSecs {
			break
		}
		d, err := invoke()
		if err != nil {
			return res, fmt.Errorf("run %d: %w", len(runs), err)
		}
		runs = append(runs, d)
		if len(runs) == 1 {
			firstRun = it.Profile()
		}
	}
	res.Inference = Summarize(runs)
	for _, d := range runs {
		res.RunsMicros = append(res.RunsMicros, micros(d))
	}
	var total float64
	for k, p := range it.Profile() {
		ns := NodeStat{NodeProfile: p}
		if k < len(firstRun) && firstRun[k].Count > 0 {
			ns.FirstMicros = micros(firstRun[k].Total)
		}
		if p.Count > 0 {
			ns.AvgMicros = micros(p.Total) / float64(p.Count)
		}
		total += ns.AvgMicros
		res.Nodes = append(res.Nodes, ns)
	}
	for i := range res.Nodes {
		if total > 0 {
			res.Nodes[i].Percent = 100 * res.Nodes[i].AvgMicros / total
		}
	}
	return res, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// ModelBench is one `edgenas bench` run: a model timed whole on a backend
// and, with PerOp, once more with every operator its own node.
type ModelBench struct {
	Model   *tflite.Model
	Backend runtime.Backend
	Threads int
	Options BenchOptions
	// Seed fixes the random inputs.
	Seed uint64
	// CPUs, if set, pins loading and timing (worker threads included).
	CPUs  []int
	PerOp bool
}

// ModelBenchResult is what RunModelBench measured.
type ModelBenchResult struct {
	// InitMicros is the time to load the model (benchmark_model's Init).
	InitMicros float64 `json:"init_us"`
	BenchResult
	Conditions Conditions `json:"conditions"`
	// PerOp is set when ModelBench.PerOp was.
	PerOp *PerOpResult `json:"per_op,omitempty"`
}

// PerOpResult compares the operators timed one by one with the whole graph.
type PerOpResult struct {
	Profile OpProfile `json:"profile"`
	// SumMicros is the sum of the operators' average times.
	SumMicros float64 `json:"sum_us"`
	// GraphMicros is the average time of the per-operator graph (the
	// operators plus the hand-over between them).
	GraphMicros float64 `json:"per_op_graph_us"`
	// WholeMicros is the whole graph's average time, as the backend
	// normally runs it (XNNPACK: fused partitions).
	WholeMicros float64 `json:"whole_graph_us"`
}

// RunModelBench loads and times mb.Model, on mb.CPUs if set.
func RunModelBench(ctx context.Context, mb ModelBench) (ModelBenchResult, error) {
	var out ModelBenchResult
	err := RunPinned(mb.CPUs, func() error {
		var err error
		out, err = runModelBench(ctx, mb)
		return err
	})
	return out, err
}

func runModelBench(ctx context.Context, mb ModelBench) (ModelBenchResult, error) {
	var out ModelBenchResult
	out.Conditions = ReadConditions(ctx, mb.Backend.Name(), mb.Threads)
	out.Conditions.PinnedCPUs = slices.Clone(mb.CPUs)
	before := readSnapshot()
	res, err := benchLoaded(ctx, mb, false)
	if err != nil {
		return out, err
	}
	out.BenchResult = res.BenchResult
	out.InitMicros = res.initMicros
	if mb.PerOp {
		ops, err := benchLoaded(ctx, mb, true)
		if err != nil {
			return out, fmt.Errorf("per operator: %w", err)
		}
		prof := NewOpProfile(mb.Model, ops.BenchResult)
		out.PerOp = &PerOpResult{Profile: prof, SumMicros: prof.SumMicros(), GraphMicros: ops.Inference.Mean, WholeMicros: res.Inference.Mean}
	}
	out.Conditions.finish(ctx, before)
	return out, nil
}

type loadedResult struct {
	BenchResult
	initMicros float64
}

// benchLoaded loads the model (timing the load), fills seeded inputs and
// benchmarks it.
func benchLoaded(ctx context.Context, mb ModelBench, perOp bool) (loadedResult, error) {
	var r loadedResult
	t0 := time.Now()
	it, err := mb.Backend.Load(mb.Model, runtime.Options{Threads: mb.Threads, PerOperator: perOp})
	if err != nil {
		return r, fmt.Errorf("load on %s: %w", mb.Backend.Name(), err)
	}
	defer it.Close()
	r.initMicros = micros(time.Since(t0))
	if err := FillRandomInputs(it, mb.Seed); err != nil {
		return r, err
	}
	r.BenchResult, err = Bench(ctx, it, mb.Options)
	return r, err
}
