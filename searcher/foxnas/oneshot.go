package foxnas

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/nn"
	"edgenas/searcher"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

// OneShotConfig is the recipe of the weight-sharing supernet. Zero fields
// are errors; DefaultOneShotConfig gives the comparison recipe.
type OneShotConfig struct {
	Epochs   float64 `json:"epochs"`    // epochs over the (fractional) training split
	DataFrac float64 `json:"data_frac"` // fraction of the training split per epoch
	Batch    int     `json:"batch"`
	Seed     uint64  `json:"seed"`
	LR       float64 `json:"lr"` // peak RMSProp rate, cosine to 1%
	// WeightDecay applies to weights, not batch-norm affine parameters.
	WeightDecay float64 `json:"weight_decay"`
	Smoothing   float32 `json:"label_smoothing"`
}

// DefaultOneShotConfig takes the budget of the Single-Path NAS search recipe
// (spnas.DefaultConfig: 8 epochs over 10% of the training split, batch 64,
// RMSProp 0.01), so that both one-shot methods see the same images and
// their search costs compare fairly.
func DefaultOneShotConfig() OneShotConfig {
	d := spnas.DefaultConfig()
	return OneShotConfig{Epochs: d.Epochs, DataFrac: d.DataFrac, Batch: d.Batch, LR: d.LR, WeightDecay: d.WeightDecay, Smoothing: d.Smoothing}
}

func (c OneShotConfig) validate() error {
	switch {
	case !(c.Epochs > 0):
		return fmt.Errorf("one-shot supernet: epochs %v must be positive", c.Epochs)
	case !(c.DataFrac > 0 && c.DataFrac <= 1):
		return fmt.Errorf("one-shot supernet: data fraction %v outside (0,1]", c.DataFrac)
	case c.Batch <= 0:
		return fmt.Errorf("one-shot supernet: batch %d must be positive", c.Batch)
	case !(c.LR > 0):
		return fmt.Errorf("one-shot supernet: learning rate %v must be positive", c.LR)
	case c.WeightDecay < 0 || c.Smoothing < 0 || c.Smoothing >= 1:
		return fmt.Errorf("one-shot supernet: weight decay %v must be >= 0 and smoothing %v in [0,1)", c.WeightDecay, c.Smoothing)
	}
	return nil
}

// Random draws an architecture uniformly over the encoding's coordinates:
// each stage's depth uniform, then kernel, expansion and SE of each used
// slot uniform. This is the once-for-all sampling rule (depth per stage,
// not skip per slot, is uniform), and the annealer searches exactly these
// architectures, so the supernet is trained on what is later evaluated.
func (e *ArchEncoding) Random(rng *rand.Rand) space.Arch {
	x := make([]int, len(e.coords))
	for i, c := range e.coords {
		x[i] = rng.IntN(c.Levels)
	}
	a, err := e.Decode(x)
	if err != nil {
		panic(fmt.Sprintf("arch encoding: decode of an in-range state failed: %v", err)) // states drawn in range always decode
	}
	return a
}

// OneShot trains a Single-Path NAS supernet (spnas.Supernet) as a
// weight-sharing one-shot model: every step forces one uniformly sampled
// sub-network (hard indicators, spnas.Supernet.Force) and trains only its
// path. The superkernel thresholds are not trained (they play no part when
// the indicators are forced).
type OneShot struct {
	Cfg   OneShotConfig
	Net   *spnas.Supernet
	Enc   *ArchEncoding
	Opt   *nn.Optimizer
	Sched nn.Schedule
	Data  *fmnist.Batcher
	Step  int
	Total int
	src   *rand.PCG // sub-network sampler, saved in checkpoints
	rng   *rand.Rand
	// images is the training images per epoch (the first of the training
	// set); trainLen the training set's size, which decides images.
	images, trainLen int
	x                []float32
	y                []int
}

// OneShotLog is one training step.
type OneShotLog struct {
	Step int     `json:"step"`
	LR   float64 `json:"lr"`
	Loss float64 `json:"loss"`
	Acc  float64 `json:"accuracy"` // training minibatch
	Arch string  `json:"arch"`
}

// NewOneShot builds the supernet of s and its optimizer over train.
func NewOneShot(cfg OneShotConfig, s *space.Space, train *fmnist.Set) (*OneShot, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if s == nil || train == nil || train.Len() == 0 {
		return nil, fmt.Errorf("one-shot supernet: no space or no training data")
	}
	n := int(math.Round(cfg.DataFrac * float64(train.Len())))
	if n < cfg.Batch {
		return nil, fmt.Errorf("one-shot supernet: data fraction %v gives %d images, less than one batch of %d", cfg.DataFrac, n, cfg.Batch)
	}
	enc, err := NewArchEncoding(s)
	if err != nil {
		return nil, err
	}
	sn, err := spnas.NewSupernet(s, cfg.Seed)
	if err != nil {
		return nil, err
	}
	sn.Net.Loss.Smoothing = cfg.Smoothing
	thresholds := map[*nn.Param]bool{}
	for _, b := range sn.Blocks {
		thresholds[b.T] = true
	}
	var params []*nn.Param
	for _, p := range sn.Net.Params() {
		if !thresholds[p] {
			params = append(params, p)
		}
	}
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: cfg.WeightDecay}, params)
	if err != nil {
		return nil, err
	}
	data, err := fmnist.NewBatcher(train.Slice(0, n), cfg.Batch, cfg.Seed)
	if err != nil {
		return nil, err
	}
	src := rand.NewPCG(cfg.Seed, 0x6f6e6573686f74)
	o := &OneShot{Cfg: cfg, Net: sn, Enc: enc, Opt: opt, Data: data, src: src, rng: rand.New(src), images: n, trainLen: train.Len(),
		Total: max(1, int(math.Round(cfg.Epochs*float64(n/cfg.Batch)))),
		x:     make([]float32, cfg.Batch*fmnist.Pixels), y: make([]int, cfg.Batch)}
	o.Sched = nn.Schedule{Kind: "cosine", Base: cfg.LR, Warmup: min(o.Total/20, 200), Total: o.Total, Min: cfg.LR / 100}
	if err := o.Sched.Validate(); err != nil {
		return nil, fmt.Errorf("one-shot supernet: %w", err)
	}
	return o, nil
}

// Done reports whether the schedule is complete.
func (o *OneShot) Done() bool { return o.Step >= o.Total }

// TrainStep samples a sub-network, trains it on one minibatch and steps
// the optimizer.
func (o *OneShot) TrainStep() (OneShotLog, error) {
	a := o.Enc.Random(o.rng)
	if err := o.Net.Force(&a); err != nil {
		return OneShotLog{}, err
	}
	o.Data.Next(o.x, o.y)
	loss, correct, err := o.Net.Net.TrainStep(o.x, o.y)
	if err != nil {
		return OneShotLog{}, fmt.Errorf("one-shot step %d: %w", o.Step, err)
	}
	lr := o.Sched.LR(o.Step)
	o.Opt.Step(lr)
	o.Step++
	return OneShotLog{Step: o.Step - 1, LR: lr, Loss: loss, Acc: float64(correct) / float64(len(o.y)), Arch: a.String()}, nil
}

// tag names the recipe in checkpoints, so a resume or reuse with another
// recipe is refused. A training set other than Load's standard one (a
// larger hold-out) is part of it; the standard one adds nothing, so
// supernets trained on it keep loading.
func (o *OneShot) tag() string {
	c := o.Cfg
	tag := fmt.Sprintf("foxnas-oneshot:%s:epochs=%g:frac=%g:batch=%d:seed=%d:lr=%g:wd=%g:smooth=%g",
		o.Net.Space.Name, c.Epochs, c.DataFrac, c.Batch, c.Seed, c.LR, c.WeightDecay, c.Smoothing)
	if o.trainLen != fmnist.TrainTotal-fmnist.ValCount {
		tag += fmt.Sprintf(":train=%d", o.trainLen)
	}
	return tag
}

type oneShotState struct {
	Epoch, Pos int
	Sampler    []byte
}

// Snapshot copies the supernet, optimizer, data position and sampler state
// into a checkpoint.
func (o *OneShot) Snapshot() (*nn.Checkpoint, error) {
	ck, err := nn.Snapshot(o.tag(), int64(o.Step), o.Net.Net, o.Opt)
	if err != nil {
		return nil, err
	}
	var st oneShotState
	st.Epoch, st.Pos = o.Data.State()
	if st.Sampler, err = o.src.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("one-shot checkpoint: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("one-shot checkpoint: %w", err)
	}
	ck.Extra["oneshot"] = b
	return ck, nil
}

// Restore loads a checkpoint taken by Snapshot of the same recipe.
func (o *OneShot) Restore(ck *nn.Checkpoint) error {
	if ck.Arch != o.tag() {
		return fmt.Errorf("checkpoint is of %q, this run is %q", ck.Arch, o.tag())
	}
	var st oneShotState
	if err := json.Unmarshal(ck.Extra["oneshot"], &st); err != nil {
		return fmt.Errorf("one-shot state: %w", err)
	}
	if err := ck.Restore(o.Net.Net, o.Opt); err != nil {
		return err
	}
	if err := o.Data.SetState(st.Epoch, st.Pos); err != nil {
		return err
	}
	if err := o.src.UnmarshalBinary(st.Sampler); err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	o.Step = int(ck.Step)
	return nil
}

// Files of a supernet directory.
const (
	SupernetCheckpoint = "supernet.ckpt"
	SupernetInfoFile   = "supernet.json"
	SupernetLogFile    = "train.jsonl"
)

// SupernetInfo describes a trained supernet (SupernetInfoFile).
type SupernetInfo struct {
	Space  string        `json:"space"`
	Config OneShotConfig `json:"config"`
	Steps  int           `json:"steps"`
	Images int           `json:"images_per_epoch"`
	// TrainSeconds is the supernet's own training wall time (all resumes).
	TrainSeconds  float64 `json:"train_seconds"`
	StepsPerSec   float64 `json:"steps_per_second"`
	FinalTrainAcc float64 `json:"final_train_accuracy"` // mean over the last 50 steps
}

// finalWindow is how many last steps FinalTrainAcc averages.
const finalWindow = 50

// TrainSupernet trains o to completion in dir through searcher.Loop,
// resuming dir's checkpoint if there is one (so a finished supernet of the
// same recipe is loaded and nothing is trained), logging each step to
// SupernetLogFile, and writing SupernetInfoFile at the end. onStep (may be
// nil) sees each step trained now.
func TrainSupernet(ctx context.Context, o *OneShot, dir string, onStep func(OneShotLog)) (SupernetInfo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return SupernetInfo{}, fmt.Errorf("supernet: %w", err)
	}
	logPath := filepath.Join(dir, SupernetLogFile)
	loop := searcher.Loop[OneShotLog]{
		Name: "supernet training", Tag: o.tag(), Checkpoint: filepath.Join(dir, SupernetCheckpoint), Log: logPath, Total: o.Total,
		Step: o.TrainStep, Snapshot: o.Snapshot, Restore: o.Restore, OnStep: onStep,
	}
	out, err := loop.Run(ctx)
	if err != nil {
		return SupernetInfo{}, err
	}
	logs, err := searcher.ReadLog[OneShotLog](logPath)
	if err != nil {
		return SupernetInfo{}, fmt.Errorf("supernet: %w", err)
	}
	info := SupernetInfo{Space: o.Net.Space.Name, Config: o.Cfg, Steps: o.Step, Images: o.images, TrainSeconds: out.Seconds}
	if out.Seconds > 0 {
		info.StepsPerSec = float64(o.Step) / out.Seconds
	}
	recent := logs[max(0, len(logs)-finalWindow):]
	for _, l := range recent {
		info.FinalTrainAcc += l.Acc / float64(len(recent))
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, SupernetInfoFile), info); err != nil {
		return SupernetInfo{}, err
	}
	return info, nil
}

// ReadSupernetInfo reads dir's SupernetInfoFile.
func ReadSupernetInfo(dir string) (SupernetInfo, error) {
	var info SupernetInfo
	b, err := os.ReadFile(filepath.Join(dir, SupernetInfoFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", filepath.Join(dir, SupernetInfoFile), err)
	}
	return info, nil
}
