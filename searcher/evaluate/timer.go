package evaluate

import (
	"context"
	"fmt"
	"os"

	"edgenas/internal/progress"
	"edgenas/profiler"
	"edgenas/tflite"
)

// ModelTimer times int8 models somewhere other than this host (the agents
// of a device class, see fleet.TimeModels).
type ModelTimer interface {
	// TimeModels times the models in the order given, each consecutive run
	// of group models together (interleaved), and returns one measurement
	// per model in that order.
	TimeModels(ctx context.Context, names []string, models []*tflite.Model, group int) ([]profiler.Measurement, error)
	// Where names what measured ("class pixel7 (devices [p1 p2])").
	Where() string
}

// measureWith times the models with cfg.Timer under the same protocol as
// measure: cfg.Rounds rounds, each with groups of cfg.Group drawn from that
// round's shuffle, a model's figure the median over rounds.
func measureWith(ctx context.Context, cfg Config, ts []*Training, models []*tflite.Model) error {
	group, rounds := max(cfg.Group, 0), max(cfg.Rounds, 0)
	if group == 0 {
		group = 5
	}
	if rounds == 0 {
		rounds = 3
	}
	fmt.Fprintf(orDiscard(cfg.Progress), "evaluate: measuring %d int8 models, %d rounds, interleaved in groups of %d, on %s\n",
		len(models), rounds, group, cfg.Timer.Where())
	for _, t := range ts {
		t.MeasuredRoundsMS, t.MeasuredCIRel, t.MeasuredUnstable = nil, 0, false
	}
	bar := progress.New(orDiscard(cfg.Progress), "measure", rounds)
	for r := range rounds {
		order := groupOrder(len(models), uint64(r))
		names := make([]string, len(order))
		ordered := make([]*tflite.Model, len(order))
		for k, i := range order {
			names[k], ordered[k] = ts[i].Model, models[i]
		}
		ms, err := cfg.Timer.TimeModels(ctx, names, ordered, group)
		if err != nil {
			return fmt.Errorf("evaluate: measure round %d on %s: %w", r+1, cfg.Timer.Where(), err)
		}
		if len(ms) != len(order) {
			return fmt.Errorf("evaluate: round %d: %d measurements for %d models", r+1, len(ms), len(order))
		}
		for k, i := range order {
			t, m := ts[i], ms[k]
			t.MeasuredRoundsMS = append(t.MeasuredRoundsMS, m.Stats.P50/1000)
			t.MeasuredCIRel = max(t.MeasuredCIRel, m.CIRel)
			t.MeasuredUnstable = t.MeasuredUnstable || m.Unstable
		}
		bar.Add(1, fmt.Sprintf("round %d/%d", r+1, rounds))
	}
	for _, t := range ts {
		t.MeasuredMS = median(t.MeasuredRoundsMS)
	}
	return nil
}

// measuredOn names where cfg's latencies were timed.
func measuredOn(cfg Config) string {
	if cfg.Timer != nil {
		return cfg.Timer.Where()
	}
	h, err := os.Hostname()
	if err != nil {
		h = "(unknown)"
	}
	return "host " + h
}
