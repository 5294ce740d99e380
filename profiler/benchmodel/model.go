package benchmodel

import (
	"context"

	"edgenas/profiler"
)

// TimeModel times one .tflite file with benchmark_model, the protocol's run
// counts and time limits as the tool's; a run under throttling or heavy
// load is repeated once, as profiler.Measure does. The conditions carry the
// delegate and how much of the graph it took.
func TimeModel(ctx context.Context, o Options, path string, threads int, p profiler.Protocol) (profiler.Measurement, error) {
	runs := Runs{WarmupRuns: p.WarmupRuns, WarmupMinSecs: p.WarmupSecs, Runs: p.MinRuns, MinSecs: p.MinSecs, MaxSecs: p.MaxSecs}
	meas, err := timeOnce(ctx, o, path, threads, runs, p)
	if err != nil || !meas.Conditions.Suspect() {
		return meas, err
	}
	meas, err = timeOnce(ctx, o, path, threads, runs, p)
	meas.Retried = true
	return meas, err
}
