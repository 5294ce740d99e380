package agent

import (
	"context"
	"fmt"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime/backends"
	"edgenas/space"
)

// MeasureFunc measures a job's keys and returns one result per key, in any
// order. progress reports keys done so far. The default runs the profiler on
// a real backend; tests inject cheap ones.
type MeasureFunc func(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error)

// ProfilerMeasure measures with profiler.ProfileLayers on the named backend,
// using the job's threads and protocol.
func ProfilerMeasure(backend string) (MeasureFunc, error) {
	be, err := backends.Lookup(backend)
	if err != nil {
		return nil, err
	}
	return layerMeasure(func(ctx context.Context, lj profiler.LayerJob) error {
		lj.Backend = be
		return profiler.ProfileLayers(ctx, lj)
	}), nil
}

// BenchmarkModelMeasure measures with TFLite's benchmark_model (the
// runtime and delegate the device ships), using the job's threads and
// protocol. A failed run, or a delegate that did not take the graph, fails
// the job with an error naming the delegate; a partial delegation is
// recorded in each result's conditions.
func BenchmarkModelMeasure(o benchmodel.Options) (MeasureFunc, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := o.CheckBinary(); err != nil {
		return nil, err
	}
	return layerMeasure(func(ctx context.Context, lj profiler.LayerJob) error {
		return benchmodel.ProfileLayers(ctx, o, lj)
	}), nil
}

// layerMeasure turns a layer profiler into a MeasureFunc: the job's keys,
// threads and protocol in, its results collected.
func layerMeasure(profile func(context.Context, profiler.LayerJob) error) MeasureFunc {
	return func(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
		layers, err := jobLayers(job)
		if err != nil {
			return nil, err
		}
		var out []profiler.LayerResult
		err = profile(ctx, profiler.LayerJob{Layers: layers, Threads: job.Threads, Protocol: job.Protocol.Profiler(),
			Sink:     func(r []profiler.LayerResult) error { out = append(out, r...); return nil },
			Progress: func(done, total int, _ string) { progress(done, total) }})
		return out, err
	}
}

// jobLayers parses a job's keys into the layers to measure.
func jobLayers(job *proto.Job) ([]space.Layer, error) {
	layers := make([]space.Layer, len(job.Keys))
	for i, k := range job.Keys {
		l, err := space.ParseKey(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if l.Kind == space.KindSkip {
			return nil, fmt.Errorf("key %d: skip layers are not measured", i)
		}
		layers[i] = l
	}
	return layers, nil
}
