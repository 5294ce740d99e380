package main

import (
	"context"
	"encoding/json"
	"flag"
	"strconv"

	"edgenas/searcher/autoshrink"
	"edgenas/space"
)

// demoShrink scales the demo's AutoShrink search: a proxy of a few hundred
// images, a few candidates per step, a few epochs, so the whole loop stays
// within the demo's budget.
type demoShrink struct {
	k, perClass, epochs int
	keep                float64
}

func registerDemoShrink(fs *flag.FlagSet, method *string, c *demoShrink) {
	*c = demoShrink{k: 3, perClass: 100, epochs: 2, keep: 0.01}
	fs.StringVar(method, "method", "spnas", "search: spnas (Single-Path NAS on spnas-fmnist) or autoshrink (on autoshrink-fmnist)")
	fs.IntVar(&c.k, "autoshrink-k", c.k, "with --method autoshrink: candidate removals per step")
	fs.IntVar(&c.perClass, "autoshrink-per-class", c.perClass, "with --method autoshrink: proxy training images per class (a fifth as many validate)")
	fs.IntVar(&c.epochs, "autoshrink-epochs", c.epochs, "with --method autoshrink: proxy epochs per candidate")
	fs.Float64Var(&c.keep, "autoshrink-keep", c.keep, "with --method autoshrink: stop at this fraction of the 28 edges (or at the target)")
}

// batch is the proxy minibatch: at most 32 and small enough for the proxy
// (autoshrink.MaxBatch; at the reference's 128, 100 images per class give 7
// steps per epoch and candidates exit on validation loss near chance).
func (c demoShrink) batch() int {
	return min(32, max(2, autoshrink.MaxBatch(c.perClass)))
}

// apply checks the method and points the demo at its space.
func (c demoShrink) apply(cfg *demoConfig) error {
	switch cfg.method {
	case "spnas":
		return nil
	case "autoshrink":
		cfg.space = "autoshrink-fmnist"
		if c.k < 1 || c.perClass < 1 || c.epochs < 1 || !(c.keep >= 0 && c.keep < 1) {
			return usagef("--autoshrink-k, --autoshrink-per-class and --autoshrink-epochs must be positive, --autoshrink-keep in [0,1)")
		}
		return nil
	}
	return usagef("--method %q: want spnas or autoshrink", cfg.method)
}

// dagTarget is demoTarget for a DAG space: the middle between the cheapest
// one-edge topology and the complete DAG on the (calibrated) table.
func dagTarget(tf *tableFlags, spaceName, calibFile string) (target, lo, hi float64, err error) {
	s, lat, err := dagLatency(tf, spaceName, calibFile)
	if err != nil {
		return 0, 0, 0, err
	}
	full, err := lat.PredictDAG(s.Full())
	if err != nil {
		return 0, 0, 0, err
	}
	lo = full.Millis
	for j := 1; j < s.Nodes(); j++ {
		a, err := s.ParseDAG(space.Edge{From: 0, To: j}.String())
		if err != nil {
			return 0, 0, 0, err
		}
		p, err := lat.PredictDAG(a)
		if err != nil {
			return 0, 0, 0, err
		}
		lo = min(lo, p.Millis)
	}
	return (lo + full.Millis) / 2, lo, full.Millis, nil
}

// searchAutoShrink is the demo's search step with --method autoshrink.
func (d *demo) searchAutoShrink(ctx context.Context) error {
	c := d.cfg.shrink
	d.announce("AutoShrink at a target of %.3f ms (k=%d, %d images/class, %d epochs per candidate)", d.cfg.target, c.k, c.perClass, c.epochs)
	var res struct {
		Pick struct {
			Arch        string  `json:"arch"`
			PredictedMS float64 `json:"predicted_ms"`
		} `json:"pick"`
		MetTarget bool              `json:"met_target"`
		Snapshots []json.RawMessage `json:"snapshots"`
		Seconds   float64           `json:"search_seconds"`
	}
	args := append([]string{"search", "autoshrink", "--space", d.cfg.space}, d.tableArgs()...)
	args = append(args, "--target-ms", strconv.FormatFloat(d.cfg.target, 'g', 6, 64), "--k", strconv.Itoa(c.k),
		"--train-per-class", strconv.Itoa(c.perClass), "--val-per-class", strconv.Itoa(max(1, c.perClass/5)),
		"--epochs", strconv.Itoa(c.epochs), "--keep", ftoa(c.keep), "--batch", strconv.Itoa(c.batch()),
		"--seed", strconv.FormatUint(d.cfg.seed, 10), "--out", d.path("search"))
	if cf := d.calibration(); cf != "" {
		args = append(args, "--calibration", cf)
	}
	if err := d.cliJSON(ctx, &res, "search", args...); err != nil {
		return err
	}
	d.r.Search = demoSearch{Arch: res.Pick.Arch, TableMS: res.Pick.PredictedMS, TargetMS: d.cfg.target,
		Within: res.MetTarget, Steps: len(res.Snapshots)}
	d.r.SearchSeconds = res.Seconds
	return nil
}
