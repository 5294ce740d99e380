package agent

import (
	"context"
	"slices"

	"edgenas/agent/proto"
	"edgenas/profiler"
)

// PinnedMeasure runs m on an OS thread pinned to cpus (profiler.RunPinned):
// interpreters it loads, their worker threads and any program it starts
// inherit the pinning. Every result's conditions record the CPUs.
func PinnedMeasure(cpus []int, m MeasureFunc) MeasureFunc {
	cpus = slices.Clone(cpus)
	return func(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
		var out []profiler.LayerResult
		err := profiler.RunPinned(cpus, func() error {
			var err error
			out, err = m(ctx, job, progress)
			return err
		})
		for i := range out {
			out[i].Conditions.PinnedCPUs = slices.Clone(cpus)
		}
		return out, err
	}
}
