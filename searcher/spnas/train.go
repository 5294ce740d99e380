package spnas

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"edgenas/internal/atomicfile"
	"edgenas/dataset/fmnist"
	"edgenas/nn"
	"edgenas/space"
)

// TrainConfig is the fixed recipe every compared architecture is trained
// with (searched and random alike), so accuracy differences come from the
// architectures, not the training.
type TrainConfig struct {
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

// DefaultTrainConfig is the comparison recipe (about 40k images seen): short
// enough that 36 trainings fit the hour-long comparison on 2 cores. Scale
// Epochs and DataFrac up for real use.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 2, DataFrac: 0.4, Batch: 64, LR: 0.01, WeightDecay: 1e-5, Smoothing: 0.1, EvalBatch: 500}
}

// TrainResult is what a training run reports (and writes to result.json).
type TrainResult struct {
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
	// Seconds is the wall time of this invocation (a resumed run counts only its part).
	Seconds float64 `json:"seconds"`
	MACs    int64   `json:"macs"`
	Params  int64   `json:"params"`
}

// Training files in a train run's directory.
const (
	TrainCheckpointFile = "model.ckpt"
	TrainResultFile     = "result.json"
)

// Train trains arch from scratch with cfg in dir (resuming dir's checkpoint
// if any), then evaluates it on the validation and test sets. onStep (may be
// nil) sees each step's index, total, loss and minibatch accuracy.
func Train(ctx context.Context, cfg TrainConfig, arch space.Arch, data *fmnist.Data, dir string, onStep func(step, total int, loss, acc float64)) (TrainResult, error) {
	start := time.Now()
	switch {
	case !(cfg.Epochs > 0), !(cfg.DataFrac > 0 && cfg.DataFrac <= 1), cfg.Batch <= 0, !(cfg.LR > 0), cfg.EvalBatch <= 0:
		return TrainResult{}, fmt.Errorf("train: bad recipe %+v (epochs, lr > 0; data fraction in (0,1]; batches > 0)", cfg)
	case data == nil || data.Train == nil || data.Val == nil || data.Test == nil:
		return TrainResult{}, fmt.Errorf("train: dataset incomplete")
	}
	n := int(math.Round(cfg.DataFrac * float64(data.Train.Len())))
	if n < cfg.Batch {
		return TrainResult{}, fmt.Errorf("train: data fraction %v gives %d images, less than one batch of %d", cfg.DataFrac, n, cfg.Batch)
	}
	net, err := nn.Build(arch, cfg.Seed)
	if err != nil {
		return TrainResult{}, fmt.Errorf("train: %w", err)
	}
	net.Loss.Smoothing = cfg.Smoothing
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: cfg.WeightDecay}, net.Params())
	if err != nil {
		return TrainResult{}, err
	}
	batches, err := fmnist.NewBatcher(data.Train.Slice(0, n), cfg.Batch, cfg.Seed)
	if err != nil {
		return TrainResult{}, err
	}
	total := max(1, int(math.Round(cfg.Epochs*float64(n/cfg.Batch))))
	sched := nn.Schedule{Kind: "cosine", Base: cfg.LR, Warmup: min(total/20, 200), Total: total, Min: cfg.LR / 100}
	tag := fmt.Sprintf("train:%s:%s:epochs=%g:frac=%g:batch=%d:seed=%d:lr=%g", arch.Space.Name, arch, cfg.Epochs, cfg.DataFrac, cfg.Batch, cfg.Seed, cfg.LR)
	tr, err := nn.NewTrainer(tag, net, opt, sched, batches)
	if err != nil {
		return TrainResult{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return TrainResult{}, fmt.Errorf("train: %w", err)
	}
	ckpt := filepath.Join(dir, TrainCheckpointFile)
	if _, err := tr.Resume(ckpt); err != nil {
		return TrainResult{}, err
	}
	for tr.Step < total {
		if err := ctx.Err(); err != nil {
			if serr := tr.Save(ckpt); serr != nil {
				return TrainResult{}, fmt.Errorf("train interrupted (%w); saving failed: %v", err, serr)
			}
			return TrainResult{}, fmt.Errorf("train interrupted at step %d of %d (resumable from %s): %w", tr.Step, total, ckpt, err)
		}
		loss, acc, err := tr.TrainStep()
		if err != nil {
			return TrainResult{}, err
		}
		if onStep != nil {
			onStep(tr.Step, total, loss, acc)
		}
		if tr.Step%200 == 0 {
			if err := tr.Save(ckpt); err != nil {
				return TrainResult{}, err
			}
		}
	}
	if err := tr.Save(ckpt); err != nil {
		return TrainResult{}, err
	}
	res := TrainResult{Space: arch.Space.Name, Arch: arch.String(), Seed: cfg.Seed, Epochs: cfg.Epochs, DataFrac: cfg.DataFrac,
		Steps: total, MACs: arch.MACs(), Params: arch.Params()}
	if res.ValAcc, res.ValLoss, err = net.Evaluate(data.Val.Images, data.Val.Labels, cfg.EvalBatch); err != nil {
		return TrainResult{}, fmt.Errorf("train: validation: %w", err)
	}
	if res.TestAcc, res.TestLoss, err = net.Evaluate(data.Test.Images, data.Test.Labels, cfg.EvalBatch); err != nil {
		return TrainResult{}, fmt.Errorf("train: test: %w", err)
	}
	res.Seconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, TrainResultFile), append(b, '\n')); err != nil {
		return TrainResult{}, err
	}
	return res, nil
}
