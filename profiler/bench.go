package profiler

import (
	"context"
	"fmt"
	"time"

	"edgenas/runtime"
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
	AvgMicros float64 `json:"avg_us"`
	Percent   float64 `json:"percent"`
}

// BenchResult is what Bench measured.
type BenchResult struct {
	FirstMicros float64    `json:"first_us"`
	Warmup      Stats      `json:"warmup"`
	Inference   Stats      `json:"inference"`
	Nodes       []NodeStat `json:"nodes,omitempty"`
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
	}
	res.Inference = Summarize(runs)
	var total float64
	for _, p := range it.Profile() {
		ns := NodeStat{NodeProfile: p}
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
