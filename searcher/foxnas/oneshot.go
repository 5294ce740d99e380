package foxnas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"edgenas/internal/atomicfile"
	"edgenas/dataset/fmnist"
	"edgenas/nn"
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
	// Seconds is the training wall time so far, across resumes.
	Seconds float64
	src     *rand.PCG // sub-network sampler, saved in checkpoints
	rng     *rand.Rand
	images  int
	x       []float32
	y       []int
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
	o := &OneShot{Cfg: cfg, Net: sn, Enc: enc, Opt: opt, Data: data, src: src, rng: rand.New(src), images: n,
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
// recipe is refused.
func (o *OneShot) tag() string {
	c := o.Cfg
	return fmt.Sprintf("foxnas-oneshot:%s:epochs=%g:frac=%g:batch=%d:seed=%d:lr=%g:wd=%g:smooth=%g",
		o.Net.Space.Name, c.Epochs, c.DataFrac, c.Batch, c.Seed, c.LR, c.WeightDecay, c.Smoothing)
}

type oneShotState struct {
	Epoch, Pos int
	Sampler    []byte
	Seconds    float64
}

// Save writes the supernet, optimizer, data position, sampler state and
// training time atomically.
func (o *OneShot) Save(path string) error {
	ck, err := nn.Snapshot(o.tag(), int64(o.Step), o.Net.Net, o.Opt)
	if err != nil {
		return err
	}
	st := oneShotState{Seconds: o.Seconds}
	st.Epoch, st.Pos = o.Data.State()
	if st.Sampler, err = o.src.MarshalBinary(); err != nil {
		return fmt.Errorf("one-shot checkpoint: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("one-shot checkpoint: %w", err)
	}
	ck.Extra["oneshot"] = b
	return ck.Save(path)
}

// Resume restores a checkpoint written by Save; false (no error) when the
// file does not exist.
func (o *OneShot) Resume(path string) (bool, error) {
	ck, err := nn.LoadCheckpoint(path)
	if errors.Is(err, nn.ErrNoCheckpoint) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ck.Arch != o.tag() {
		return false, fmt.Errorf("resume %s: checkpoint is of %q, this run is %q", path, ck.Arch, o.tag())
	}
	var st oneShotState
	if err := json.Unmarshal(ck.Extra["oneshot"], &st); err != nil {
		return false, fmt.Errorf("resume %s: one-shot state: %w", path, err)
	}
	if err := ck.Restore(o.Net.Net, o.Opt); err != nil {
		return false, fmt.Errorf("resume %s: %w", path, err)
	}
	if err := o.Data.SetState(st.Epoch, st.Pos); err != nil {
		return false, fmt.Errorf("resume %s: %w", path, err)
	}
	if err := o.src.UnmarshalBinary(st.Sampler); err != nil {
		return false, fmt.Errorf("resume %s: sampler: %w", path, err)
	}
	o.Step, o.Seconds = int(ck.Step), st.Seconds
	return true, nil
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

// TrainSupernet trains o to completion in dir, resuming dir's checkpoint if
// there is one, checkpointing every 50 steps and on cancellation, logging
// each step to SupernetLogFile, and writing SupernetInfoFile at the end.
// onStep (may be nil) sees each step. If dir already holds a finished
// supernet of the same recipe, it is loaded and nothing is trained.
func TrainSupernet(ctx context.Context, o *OneShot, dir string, onStep func(OneShotLog)) (SupernetInfo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return SupernetInfo{}, fmt.Errorf("supernet: %w", err)
	}
	ckpt := filepath.Join(dir, SupernetCheckpoint)
	const window = 50
	var recent []float64 // the last window steps' training accuracy
	if _, err := o.Resume(ckpt); err != nil {
		return SupernetInfo{}, err
	}
	logPath := filepath.Join(dir, SupernetLogFile)
	if err := truncateStepLog(logPath, o.Step); err != nil {
		return SupernetInfo{}, err
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return SupernetInfo{}, fmt.Errorf("supernet log: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	start, base := time.Now(), o.Seconds
	save := func() error {
		if len(recent) > 0 { // loading a finished supernet is not training time
			o.Seconds = base + time.Since(start).Seconds()
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("supernet log: %w", err)
		}
		return o.Save(ckpt)
	}
	for !o.Done() {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return SupernetInfo{}, errors.Join(err, serr)
			}
			return SupernetInfo{}, fmt.Errorf("supernet training interrupted at step %d of %d (resumable from %s): %w", o.Step, o.Total, ckpt, err)
		}
		l, err := o.TrainStep()
		if err != nil {
			return SupernetInfo{}, err
		}
		if err := enc.Encode(l); err != nil {
			return SupernetInfo{}, fmt.Errorf("supernet log: %w", err)
		}
		recent = append(recent, l.Acc)
		if len(recent) > window {
			recent = recent[1:]
		}
		if onStep != nil {
			onStep(l)
		}
		if o.Step%50 == 0 {
			if err := save(); err != nil {
				return SupernetInfo{}, err
			}
		}
	}
	if len(recent) > 0 {
		if err := save(); err != nil {
			return SupernetInfo{}, err
		}
	}
	info := SupernetInfo{Space: o.Net.Space.Name, Config: o.Cfg, Steps: o.Step, Images: o.images, TrainSeconds: o.Seconds}
	if o.Seconds > 0 {
		info.StepsPerSec = float64(o.Step) / o.Seconds
	}
	if prev, err := ReadSupernetInfo(dir); err == nil && len(recent) == 0 {
		info.FinalTrainAcc = prev.FinalTrainAcc // nothing trained now: keep the recorded figure
	}
	for _, a := range recent {
		info.FinalTrainAcc += a / float64(len(recent))
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, SupernetInfoFile), append(b, '\n')); err != nil {
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

// truncateStepLog drops the log lines of steps >= keep (written after the
// checkpoint being resumed) and a torn last line, so the log matches the
// resumed state.
func truncateStepLog(path string, keep int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("supernet log: %w", err)
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		var l OneShotLog
		if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &l) != nil {
			continue
		}
		if l.Step < keep {
			out.Write(line)
		}
	}
	if out.Len() == len(data) {
		return nil
	}
	return atomicfile.WriteFile(path, out.Bytes())
}
