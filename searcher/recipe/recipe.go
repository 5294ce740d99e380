// Package recipe is the fixed training recipe every compared architecture
// is trained with (searched and random alike, by `edgenas train` and
// `edgenas evaluate`), so that accuracy differences come from the
// architectures, not the training; and the training directory it leaves
// (CheckpointFile, ResultFile).
package recipe

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/nn"
	"edgenas/searcher"
)

// Config is the recipe: RMSProp with a cosine schedule on a fraction of
// the training split, label smoothing, weight decay.
type Config struct {
	Epochs      float64 // 2
	DataFrac    float64 // fraction of the training split per epoch (0.4)
	Batch       int     // 64
	Seed        uint64
	LR          float64 // peak RMSProp rate, cosine to 1% (0.01)
	WeightDecay float64 // 1e-5
	Smoothing   float32 // 0.1
	// EvalBatch is the evaluation batch size (500).
	EvalBatch int
}

// Default is the comparison recipe (about 40k images seen): short enough
// that 36 trainings fit the hour-long comparison on 2 cores. Scale Epochs
// and DataFrac up for real use.
func Default() Config {
	return Config{Epochs: 2, DataFrac: 0.4, Batch: 64, LR: 0.01, WeightDecay: 1e-5, Smoothing: 0.1, EvalBatch: 500}
}

func (c Config) validate() error {
	if !(c.Epochs > 0) || !(c.DataFrac > 0 && c.DataFrac <= 1) || c.Batch <= 0 || !(c.LR > 0) || c.EvalBatch <= 0 {
		return fmt.Errorf("train: bad recipe %+v (epochs, lr > 0; data fraction in (0,1]; batches > 0)", c)
	}
	return nil
}

// images is how many training images an epoch uses.
func (c Config) images(trainLen int) int { return int(math.Round(c.DataFrac * float64(trainLen))) }

// Steps is the number of optimizer steps Train takes with c on a training
// split of trainLen images.
func (c Config) Steps(trainLen int) int {
	return max(1, int(math.Round(c.Epochs*float64(c.images(trainLen)/max(1, c.Batch)))))
}

// Result is what a training reports (and writes to ResultFile).
type Result struct {
	Space    string  `json:"space"`
	Arch     string  `json:"arch"`
	Seed     uint64  `json:"seed"`
	Epochs   float64 `json:"epochs"`
	DataFrac float64 `json:"data_frac"`
	Steps    int     `json:"steps"`
	ValAcc   float64 `json:"val_accuracy"`
	ValLoss  float64 `json:"val_loss"`
	TestAcc  float64 `json:"test_accuracy"`
	TestLoss float64 `json:"test_loss"`
	// Seconds is the training steps' wall time over all invocations (a
	// resumed training counts the part before the interruption too) plus
	// this invocation's final evaluation.
	Seconds float64 `json:"seconds"`
	MACs    int64   `json:"macs"`
	Params  int64   `json:"params"`
}

// Files of a training directory.
const (
	CheckpointFile = "model.ckpt"
	ResultFile     = "result.json"
)

// ReadResult reads the result a finished training left in dir.
func ReadResult(dir string) (Result, error) {
	path := filepath.Join(dir, ResultFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	return res, nil
}

// step is one training step, as the loop sees it.
type step struct {
	Step      int
	Loss, Acc float64
}

// Train trains arch (Chain or DAG) from scratch with cfg in dir (resuming dir's checkpoint
// if any, through searcher.Loop), then evaluates it on the validation and
// test sets and writes ResultFile. onStep (may be nil) sees each step's
// index, total, loss and minibatch accuracy.
func Train(ctx context.Context, cfg Config, arch Arch, data *fmnist.Data, dir string, onStep func(step, total int, loss, acc float64)) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if data == nil || data.Train == nil || data.Val == nil || data.Test == nil {
		return Result{}, fmt.Errorf("train: dataset incomplete")
	}
	n := cfg.images(data.Train.Len())
	if n < cfg.Batch {
		return Result{}, fmt.Errorf("train: data fraction %v gives %d images, less than one batch of %d", cfg.DataFrac, n, cfg.Batch)
	}
	net, err := arch.Build(cfg.Seed)
	if err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	net.Loss.Smoothing = cfg.Smoothing
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: cfg.WeightDecay}, net.Params())
	if err != nil {
		return Result{}, err
	}
	batches, err := fmnist.NewBatcher(data.Train.Slice(0, n), cfg.Batch, cfg.Seed)
	if err != nil {
		return Result{}, err
	}
	total := cfg.Steps(data.Train.Len())
	sched := nn.Schedule{Kind: "cosine", Base: cfg.LR, Warmup: min(total/20, 200), Total: total, Min: cfg.LR / 100}
	tag := fmt.Sprintf("train:%s:%s:epochs=%g:frac=%g:batch=%d:seed=%d:lr=%g", arch.SpaceName(), arch, cfg.Epochs, cfg.DataFrac, cfg.Batch, cfg.Seed, cfg.LR)
	tr, err := nn.NewTrainer(tag, net, opt, sched, batches)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	loop := searcher.Loop[step]{
		Name: "train", Tag: tag, Checkpoint: filepath.Join(dir, CheckpointFile), Total: total,
		Step: func() (step, error) {
			loss, acc, err := tr.TrainStep()
			if err != nil {
				return step{}, fmt.Errorf("train %w", err)
			}
			return step{Step: tr.Step, Loss: loss, Acc: acc}, nil
		},
		Snapshot: tr.Snapshot,
		Restore:  tr.Restore,
	}
	if onStep != nil {
		loop.OnStep = func(s step) { onStep(s.Step, total, s.Loss, s.Acc) }
	}
	out, err := loop.Run(ctx)
	if err != nil {
		return Result{}, err
	}
	res := Result{Space: arch.SpaceName(), Arch: arch.String(), Seed: cfg.Seed, Epochs: cfg.Epochs, DataFrac: cfg.DataFrac,
		Steps: total, MACs: arch.MACs(), Params: arch.Params()}
	evalStart := time.Now()
	if res.ValAcc, res.ValLoss, err = net.Evaluate(data.Val.Images, data.Val.Labels, cfg.EvalBatch); err != nil {
		return Result{}, fmt.Errorf("train: validation: %w", err)
	}
	if res.TestAcc, res.TestLoss, err = net.Evaluate(data.Test.Images, data.Test.Labels, cfg.EvalBatch); err != nil {
		return Result{}, fmt.Errorf("train: test: %w", err)
	}
	res.Seconds = out.Seconds + time.Since(evalStart).Seconds()
	if err := atomicfile.WriteJSON(filepath.Join(dir, ResultFile), res); err != nil {
		return Result{}, err
	}
	return res, nil
}
