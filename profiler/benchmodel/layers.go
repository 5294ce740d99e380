package benchmodel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"edgenas/profiler"
	"edgenas/space"
	"edgenas/tflite"
)

// ProfileLayers measures latency-table keys with benchmark_model: each
// layer's one-block microbenchmark model (the same bytes every device
// measures, profiler.LayerModel) is written to a temporary file and timed by
// the tool with the job's protocol as its run counts. job.Backend is not
// used. Each result's conditions carry the delegate and how much of the
// graph it took; a run that fails or whose delegate was not used stops the
// job with an error naming the delegate.
func ProfileLayers(ctx context.Context, o Options, job profiler.LayerJob) error {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "edgenas-benchmodel-")
	if err != nil {
		return fmt.Errorf("benchmark_model models: %w", err)
	}
	defer os.RemoveAll(dir)
	group := job.Group
	if group <= 0 {
		group = 8
	}
	threads := job.Threads
	if threads <= 0 {
		threads = max(o.Threads, 1)
	}
	var batch []profiler.LayerResult
	for i, l := range job.Layers {
		m, err := measureLayer(ctx, o, dir, i, l, threads, job.Protocol)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Key(), err)
		}
		batch = append(batch, profiler.LayerResult{Key: l.Key(), Measurement: m})
		if len(batch) == group || i == len(job.Layers)-1 {
			if job.Sink != nil {
				if err := job.Sink(batch); err != nil {
					return fmt.Errorf("store results: %w", err)
				}
			}
			if job.Progress != nil {
				job.Progress(i+1, len(job.Layers), l.Key())
			}
			batch = nil
		}
	}
	return nil
}

// measureLayer times one layer's microbenchmark (see TimeModel).
func measureLayer(ctx context.Context, o Options, dir string, i int, l space.Layer, threads int, p profiler.Protocol) (profiler.Measurement, error) {
	m, err := profiler.LayerModel(l)
	if err != nil {
		return profiler.Measurement{}, err
	}
	b, err := tflite.Write(m)
	if err != nil {
		return profiler.Measurement{}, fmt.Errorf("write microbenchmark: %w", err)
	}
	path := filepath.Join(dir, "layer"+strconv.Itoa(i)+".tflite")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return profiler.Measurement{}, fmt.Errorf("write microbenchmark: %w", err)
	}
	return TimeModel(ctx, o, path, threads, p)
}

func timeOnce(ctx context.Context, o Options, path string, threads int, runs Runs, p profiler.Protocol) (profiler.Measurement, error) {
	var res *Result
	var info *profiler.DelegateInfo
	cond, err := profiler.Observe(ctx, BackendName(o.Delegate), threads, func() error {
		var err error
		res, info, err = Run(ctx, o, path, threads, runs)
		return err
	})
	if err != nil {
		return profiler.Measurement{}, err
	}
	cond.Delegate = info
	if len(o.CPUs) > 0 {
		// The tool ran under taskset: its affinity, not this process's.
		cond.Affinity = append([]int(nil), o.CPUs...)
	}
	st := TimingStats(res.TimedRuns())
	ci := ciRel(st)
	return profiler.Measurement{Stats: st, CIRel: ci, Unstable: ci > p.RelTol, Batch: 1, Conditions: cond}, nil
}
