package evaluate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/internal/progress"
	"edgenas/profiler"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/searcher/recipe"
	"edgenas/tflite"
)

// Config is one evaluation.
type Config struct {
	Runs []string
	// Work caches trainings and their int8 models, so a rerun only trains
	// what is missing (latency is never cached: it is measured anew).
	Work  string
	Seeds int
	// PicksOnly evaluates only the pick (first candidate) of every search
	// run; random runs keep all their architectures, which form the baseline.
	// A FOX-NAS run lists its top-k, which would otherwise all be trained.
	PicksOnly bool
	// Recipe is the fixed training recipe (its Seed is ignored: Seeds decides).
	Recipe recipe.Config
	PTQ    PTQ
	// TestImages limits the validation and test images every accuracy is
	// measured on to the first TestImages of each split (0: all), for quick
	// checks; it is part of the training cache key.
	TestImages int
	// Backend and Threads are what latency and int8 accuracy run on.
	Backend  string
	Threads  int
	Protocol profiler.Protocol
	// Group is how many models are timed together, interleaved (0: 5, as
	// lut validate and the table profiler do). Interleaving spreads drift
	// over models, but each model then runs with caches its neighbours
	// evicted: on the 2-core VM, 22 models interleaved measured 14% slower
	// than the same models in groups of 5, which measured within 1-2% of
	// each model alone. Calibration and evaluation must group alike.
	Group int
	// Rounds is how many times every model is measured, each round with
	// groups drawn from a new shuffle (0: 3); a model's latency is its median
	// over rounds. This VM's speed moved by 10-15% within minutes, which one
	// round leaves on whichever groups ran in a slow minute.
	Rounds int
	// MatchLatency compares each method with the random group nearest its
	// mean predicted latency instead of the random group of its target
	// (Summarize).
	MatchLatency bool
	// Workers is how many interpreters share the int8 accuracy run (0: 1).
	Workers int
	// Progress receives the progress lines (nil discards).
	Progress io.Writer
	// Timer, if set, times the int8 models instead of Backend on this host
	// (the agents of a device class), with the same rounds and groups.
	Timer ModelTimer
}

// Training is one (candidate, seed) of one run, and what evaluation found.
type Training struct {
	Method        string  `json:"method"`
	TargetMS      float64 `json:"target_ms"`
	Run           string  `json:"run"`
	RunSeed       uint64  `json:"run_seed"`
	SearchSeconds float64 `json:"search_seconds"`
	Candidate     int     `json:"candidate"`
	Arch          string  `json:"arch"`
	Seed          uint64  `json:"seed"`
	PredictedMS   float64 `json:"predicted_ms"`
	Dir           string  `json:"dir"`
	Model         string  `json:"model"`
	ValAcc        float64 `json:"val_accuracy"`
	FloatAcc      float64 `json:"float_test_accuracy"`
	Int8Acc       float64 `json:"int8_test_accuracy"`
	MeasuredMS    float64 `json:"measured_ms"`
	// MeasuredRoundsMS is the median latency of every measurement round;
	// MeasuredMS is their median.
	MeasuredRoundsMS []float64 `json:"measured_rounds_ms,omitempty"`
	// MeasuredCIRel is the widest relative confidence half-width of a round's median.
	MeasuredCIRel float64 `json:"measured_ci_rel"`
	// MeasuredUnstable: the measurement hit its time limit before its
	// confidence interval was tight (a busy machine); rerun when idle.
	MeasuredUnstable bool    `json:"measured_unstable,omitempty"`
	TrainSeconds     float64 `json:"train_seconds"`
	// Cached: the training was found finished in the work directory.
	Cached bool `json:"cached"`

	// arch is Arch decoded in the run's space (chain or DAG).
	arch recipe.Arch
}

// Plan reads the runs and lists their trainings (without running any).
func Plan(cfg Config) ([]Run, []*Training, error) {
	if len(cfg.Runs) == 0 {
		return nil, nil, fmt.Errorf("evaluate: no run directories")
	}
	var runs []Run
	var out []*Training
	for _, dir := range cfg.Runs {
		r, err := LoadRun(dir)
		if err != nil {
			return nil, nil, err
		}
		if cfg.PicksOnly && r.Method != "random" && len(r.Candidates) > 1 {
			r.Candidates = r.Candidates[:1]
		}
		runs = append(runs, r)
		for ci, c := range r.Candidates {
			a, err := recipe.ParseArch(r.Space, c.Arch)
			if err != nil {
				return nil, nil, fmt.Errorf("run %s candidate %d: %w", dir, ci, err)
			}
			for _, seed := range Seeds(r, cfg.Seeds) {
				t := &Training{Method: r.Method, TargetMS: r.TargetMS, Run: dir, RunSeed: r.Seed, SearchSeconds: r.SearchSeconds,
					Candidate: ci, Arch: a.String(), Seed: seed, PredictedMS: c.PredictedMS, arch: a}
				t.Dir = filepath.Join(cfg.Work, trainKey(cfg.Recipe, cfg.TestImages, a, seed))
				out = append(out, t)
			}
		}
	}
	return runs, out, nil
}

// trainKey names a training's cache directory: a hash of everything that
// determines its result (space, architecture, seed and the recipe).
func trainKey(rc recipe.Config, evalImages int, a recipe.Arch, seed uint64) string {
	key := fmt.Sprintf("%s|%s|seed=%d|epochs=%g|frac=%g|batch=%d|lr=%g|wd=%g|smooth=%g",
		a.SpaceName(), a, seed, rc.Epochs, rc.DataFrac, rc.Batch, rc.LR, rc.WeightDecay, rc.Smoothing)
	if evalImages > 0 {
		key += fmt.Sprintf("|eval=%d", evalImages)
	}
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("train-s%d-%s", seed, hex.EncodeToString(h[:8]))
}

// finished returns the cached result of a training, if it completed with
// the same architecture, seed and recipe.
func finished(t *Training, rc recipe.Config) (recipe.Result, bool) {
	res, err := recipe.ReadResult(t.Dir)
	if err != nil || res.Arch != t.Arch || res.Seed != t.Seed || res.Epochs != rc.Epochs || res.DataFrac != rc.DataFrac {
		return recipe.Result{}, false
	}
	return res, true
}

// quantRecord caches a training's int8 model and accuracy.
type quantRecord struct {
	PTQ        string  `json:"ptq"`
	Backend    string  `json:"backend"`
	TestImages int     `json:"test_images"`
	Int8Acc    float64 `json:"int8_test_accuracy"`
}

// Evaluate trains (or reuses), quantizes and times every training of the
// runs in cfg and summarises them. data must hold the Fashion-MNIST splits.
func Evaluate(ctx context.Context, cfg Config, data *fmnist.Data) (*Report, error) {
	if cfg.Work == "" {
		return nil, fmt.Errorf("evaluate: no work directory")
	}
	if cfg.Backend == "" {
		cfg.Backend = "xnnpack"
	}
	_, ts, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	if n := cfg.TestImages; n > 0 {
		d := *data
		d.Val, d.Test = d.Val.Slice(0, min(n, d.Val.Len())), d.Test.Slice(0, min(n, d.Test.Len()))
		data = &d
	}
	if err := train(ctx, cfg, data, ts); err != nil {
		return nil, err
	}
	models, err := quantizeAll(ctx, cfg, data, ts)
	if err != nil {
		return nil, err
	}
	measureFn := measure
	if cfg.Timer != nil {
		measureFn = measureWith
	}
	if err := measureFn(ctx, cfg, ts, models); err != nil {
		return nil, err
	}
	rep := Summarize(ts, cfg.MatchLatency)
	rep.MeasuredOn = measuredOn(cfg)
	return rep, nil
}

func train(ctx context.Context, cfg Config, data *fmnist.Data, ts []*Training) error {
	total := 0
	var todo []*Training
	for _, t := range ts {
		if res, ok := finished(t, cfg.Recipe); ok {
			t.setTrained(res, true)
			continue
		}
		todo = append(todo, t)
		total += cfg.Recipe.Steps(data.Train.Len())
	}
	fmt.Fprintf(orDiscard(cfg.Progress), "evaluate: %d trainings, %d cached in %s, %d to train\n", len(ts), len(ts)-len(todo), cfg.Work, len(todo))
	if len(todo) == 0 {
		return nil
	}
	bar := progress.New(cfg.Progress, "train", total)
	for i, t := range todo {
		rc := cfg.Recipe
		rc.Seed = t.Seed
		note := fmt.Sprintf("%d/%d %s seed %d", i+1, len(todo), t.Arch, t.Seed)
		onStep := func(step, total int, loss, acc float64) { bar.Add(1, note) }
		res, err := recipe.Train(ctx, rc, t.arch, data, t.Dir, onStep)
		if err != nil {
			return fmt.Errorf("evaluate: train %s seed %d in %s: %w", t.Arch, t.Seed, t.Dir, err)
		}
		t.setTrained(res, false)
	}
	return nil
}

func (t *Training) setTrained(res recipe.Result, cached bool) {
	t.ValAcc, t.FloatAcc, t.TrainSeconds, t.Cached = res.ValAcc, res.TestAcc, res.Seconds, cached
}

func quantizeAll(ctx context.Context, cfg Config, data *fmnist.Data, ts []*Training) ([]*tflite.Model, error) {
	test := data.Test
	bar := progress.New(cfg.Progress, "quantize", len(ts))
	models := make([]*tflite.Model, len(ts))
	for i, t := range ts {
		t.Model = filepath.Join(t.Dir, "int8.tflite")
		recPath := filepath.Join(t.Dir, "int8.json")
		want := quantRecord{PTQ: cfg.PTQ.String(), Backend: cfg.Backend, TestImages: test.Len()}
		var rec quantRecord
		if b, err := os.ReadFile(recPath); err == nil && json.Unmarshal(b, &rec) == nil && rec.PTQ == want.PTQ && rec.Backend == want.Backend && rec.TestImages == want.TestImages {
			if m, err := tflite.ReadFile(t.Model); err == nil {
				models[i], t.Int8Acc = m, rec.Int8Acc
				bar.Add(1, t.Arch+" (cached)")
				continue
			}
		}
		tr, err := LoadTrained(t.Dir)
		if err != nil {
			return nil, err
		}
		m, err := tr.Quantize(data.Train, cfg.PTQ)
		if err != nil {
			return nil, err
		}
		if want.Int8Acc, err = Int8Accuracy(ctx, m, cfg.Backend, test, cfg.Workers, nil); err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", t.Dir, err)
		}
		if err := tflite.WriteFile(t.Model, m); err != nil {
			return nil, fmt.Errorf("evaluate: write %s: %w", t.Model, err)
		}
		if err := atomicfile.WriteJSON(recPath, want); err != nil {
			return nil, err
		}
		models[i], t.Int8Acc = m, want.Int8Acc
		bar.Add(1, fmt.Sprintf("%s seed %d int8 %.4f", t.Arch, t.Seed, t.Int8Acc))
	}
	return models, nil
}

// measure times the int8 models in cfg.Rounds rounds of interleaved groups
// of cfg.Group. Each round draws its groups from a new shuffle, so groups mix
// runs and methods and drift between groups does not line up with the
// comparison.
func measure(ctx context.Context, cfg Config, ts []*Training, models []*tflite.Model) error {
	be, err := backends.Lookup(cfg.Backend)
	if err != nil {
		return err
	}
	cands := make([]profiler.Candidate, len(ts))
	for i, m := range models {
		it, err := be.Load(m, runtime.Options{Threads: cfg.Threads})
		if err != nil {
			return fmt.Errorf("evaluate: load %s on %s: %w", ts[i].Model, cfg.Backend, err)
		}
		defer it.Close()
		if err := profiler.FillRandomInputs(it, uint64(i)+1); err != nil {
			return fmt.Errorf("evaluate: inputs for %s: %w", ts[i].Model, err)
		}
		cands[i] = profiler.Candidate{Name: ts[i].Model, Invoke: it.Invoke}
	}
	group := cfg.Group
	if group <= 0 {
		group = 5
	}
	rounds := cfg.Rounds
	if rounds <= 0 {
		rounds = 3
	}
	fmt.Fprintf(orDiscard(cfg.Progress), "evaluate: measuring %d int8 models, %d rounds, interleaved in groups of %d, on %s, %d thread(s) (up to %.0f s each)\n",
		len(cands), rounds, group, cfg.Backend, max(1, cfg.Threads), cfg.Protocol.MaxSecs)
	for _, t := range ts {
		t.MeasuredRoundsMS, t.MeasuredCIRel, t.MeasuredUnstable = nil, 0, false
	}
	bar := progress.New(orDiscard(cfg.Progress), "measure", rounds*((len(cands)+group-1)/group))
	for r := range rounds {
		ms, err := measureGrouped(cands, group, uint64(r), func(part []profiler.Candidate) ([]profiler.Measurement, error) {
			got, err := profiler.Measure(ctx, part, cfg.Protocol, cfg.Backend, cfg.Threads)
			bar.Add(1, fmt.Sprintf("round %d/%d", r+1, rounds))
			return got, err
		})
		if err != nil {
			return fmt.Errorf("evaluate: measure round %d: %w", r+1, err)
		}
		for i, m := range ms {
			t := ts[i]
			t.MeasuredRoundsMS = append(t.MeasuredRoundsMS, m.Stats.P50/1000)
			t.MeasuredCIRel = max(t.MeasuredCIRel, m.CIRel)
			t.MeasuredUnstable = t.MeasuredUnstable || m.Unstable
		}
	}
	unstable := 0
	for _, t := range ts {
		t.MeasuredMS = median(t.MeasuredRoundsMS)
		if t.MeasuredUnstable {
			unstable++
		}
	}
	if unstable > 0 {
		fmt.Fprintf(orDiscard(cfg.Progress), "evaluate: %d of %d latencies did not converge within %.0f s (busy machine?): rerun on an idle machine to refresh them\n",
			unstable, len(ts), cfg.Protocol.MaxSecs)
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// measureGrouped runs measure on groups of at most group candidates, drawn
// from a shuffle fixed by the round, and returns the measurements in the candidates' order.
func measureGrouped(cands []profiler.Candidate, group int, round uint64, measure func([]profiler.Candidate) ([]profiler.Measurement, error)) ([]profiler.Measurement, error) {
	ms := make([]profiler.Measurement, len(cands))
	order := groupOrder(len(cands), round)
	for start := 0; start < len(order); start += group {
		idx := order[start:min(start+group, len(order))]
		part := make([]profiler.Candidate, len(idx))
		for k, i := range idx {
			part[k] = cands[i]
		}
		got, err := measure(part)
		if err != nil {
			return nil, err
		}
		if len(got) != len(part) {
			return nil, fmt.Errorf("%d measurements for %d models", len(got), len(part))
		}
		for k, i := range idx {
			ms[i] = got[k]
		}
	}
	return ms, nil
}

// groupOrder is the shuffle a round draws its groups from: consecutive
// runs of the group size are timed together.
func groupOrder(n int, round uint64) []int {
	return rand.New(rand.NewPCG(uint64(n), 0x5eed+round)).Perm(n)
}

// median of a non-empty slice (the mean of the middle two for even lengths).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
