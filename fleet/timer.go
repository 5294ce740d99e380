package fleet

import (
	"context"
	"fmt"

	"edgenas/profiler"
)

// TimeModels times serialized models on a class's agents (a Bench of a new
// model set in cfg.Dir) and returns one measurement per model, in order:
// the class figure, as a class table holds it. Stats are over the devices'
// medians (P50 the median across devices, Count the devices), CIRel is the
// widest device's, Unstable if any device's was, Conditions the first
// device's. Identical models are timed once and share their measurement.
func TimeModels(ctx context.Context, cfg BenchConfig, names []string, models [][]byte) ([]profiler.Measurement, *BenchReport, error) {
	if len(names) != len(models) {
		return nil, nil, fmt.Errorf("time models: %d names for %d models", len(names), len(models))
	}
	set, err := NewModelSet(cfg.Dir)
	if err != nil {
		return nil, nil, err
	}
	shas := make([]string, len(models))
	for i, b := range models {
		if shas[i], err = set.AddBytes(names[i], b); err != nil {
			return nil, nil, err
		}
	}
	rep, err := Bench(ctx, cfg, set)
	if err != nil {
		return nil, rep, err
	}
	by := map[string]ModelTiming{}
	for _, m := range rep.Models {
		by[m.SHA256] = m
	}
	out := make([]profiler.Measurement, len(models))
	for i, sha := range shas {
		m, ok := by[sha]
		if !ok || len(m.Devices) == 0 {
			return nil, rep, fmt.Errorf("time models: %s came back untimed", names[i])
		}
		us := make([]float64, len(m.Devices))
		meas := profiler.Measurement{Name: names[i], Batch: 1, Conditions: m.Devices[0].Conditions}
		for j, d := range m.Devices {
			us[j] = d.Millis * 1000
			meas.CIRel = max(meas.CIRel, d.CIRel)
			meas.Unstable = meas.Unstable || d.Unstable
		}
		meas.Stats = profiler.SummarizeMicros(us)
		out[i] = meas
	}
	return out, rep, nil
}
