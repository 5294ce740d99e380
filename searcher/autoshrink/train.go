package autoshrink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/nn"
	"edgenas/quantize"
	"edgenas/searcher"
	"edgenas/searcher/recipe"
	"edgenas/space"
	"edgenas/tflite"
)

// TrainRecipe is recipe.Train for a DAG-space topology: the same fixed
// comparison recipe (RMSProp, cosine schedule, label smoothing, the same
// steps and data), the same resumable loop and the same training directory
// (recipe.CheckpointFile, recipe.ResultFile), so DAG topologies and chain
// architectures are trained alike. recipe.Train takes only chain
// architectures; this is its twin over nn.BuildDAG.
func TrainRecipe(ctx context.Context, cfg recipe.Config, a space.DAGArch, data *fmnist.Data, dir string,
	onStep func(step, total int, loss, acc float64)) (recipe.Result, error) {
	if !(cfg.Epochs > 0) || !(cfg.DataFrac > 0 && cfg.DataFrac <= 1) || cfg.Batch <= 0 || !(cfg.LR > 0) || cfg.EvalBatch <= 0 {
		return recipe.Result{}, fmt.Errorf("train: bad recipe %+v (epochs, lr > 0; data fraction in (0,1]; batches > 0)", cfg)
	}
	if data == nil || data.Train == nil || data.Val == nil || data.Test == nil {
		return recipe.Result{}, fmt.Errorf("train: dataset incomplete")
	}
	n := int(cfg.DataFrac*float64(data.Train.Len()) + 0.5)
	if n < cfg.Batch {
		return recipe.Result{}, fmt.Errorf("train: data fraction %v gives %d images, less than one batch of %d", cfg.DataFrac, n, cfg.Batch)
	}
	net, err := nn.BuildDAG(a, cfg.Seed)
	if err != nil {
		return recipe.Result{}, fmt.Errorf("train: %w", err)
	}
	net.Loss.Smoothing = cfg.Smoothing
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: cfg.WeightDecay}, net.Params())
	if err != nil {
		return recipe.Result{}, err
	}
	batches, err := fmnist.NewBatcher(data.Train.Slice(0, n), cfg.Batch, cfg.Seed)
	if err != nil {
		return recipe.Result{}, err
	}
	total := cfg.Steps(data.Train.Len())
	sched := nn.Schedule{Kind: "cosine", Base: cfg.LR, Warmup: min(total/20, 200), Total: total, Min: cfg.LR / 100}
	tag := fmt.Sprintf("train:%s:%s:epochs=%g:frac=%g:batch=%d:seed=%d:lr=%g", a.Space.Name, a, cfg.Epochs, cfg.DataFrac, cfg.Batch, cfg.Seed, cfg.LR)
	tr, err := nn.NewTrainer(tag, net, opt, sched, batches)
	if err != nil {
		return recipe.Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return recipe.Result{}, fmt.Errorf("train: %w", err)
	}
	type step struct {
		Step      int
		Loss, Acc float64
	}
	loop := searcher.Loop[step]{
		Name: "train", Tag: tag, Checkpoint: filepath.Join(dir, recipe.CheckpointFile), Total: total,
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
		return recipe.Result{}, err
	}
	res := recipe.Result{Space: a.Space.Name, Arch: a.String(), Seed: cfg.Seed, Epochs: cfg.Epochs, DataFrac: cfg.DataFrac,
		Steps: total, MACs: a.MACs(), Params: a.Params()}
	evalStart := time.Now()
	if res.ValAcc, res.ValLoss, err = net.Evaluate(data.Val.Images, data.Val.Labels, cfg.EvalBatch); err != nil {
		return recipe.Result{}, fmt.Errorf("train: validation: %w", err)
	}
	if res.TestAcc, res.TestLoss, err = net.Evaluate(data.Test.Images, data.Test.Labels, cfg.EvalBatch); err != nil {
		return recipe.Result{}, fmt.Errorf("train: test: %w", err)
	}
	res.Seconds = out.Seconds + time.Since(evalStart).Seconds()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return recipe.Result{}, fmt.Errorf("train: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, recipe.ResultFile), append(b, '\n')); err != nil {
		return recipe.Result{}, err
	}
	return res, nil
}

// Trained is a DAG network restored from a training directory.
type Trained struct {
	Dir    string
	Result recipe.Result
	Arch   space.DAGArch
	Net    *nn.Net
}

// LoadTrained restores the DAG network a finished TrainRecipe left in dir.
func LoadTrained(dir string) (*Trained, error) {
	res, err := recipe.ReadResult(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load trained %s: %w (is it a training directory whose training finished?)", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	s, err := space.LookupDAG(res.Space)
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	a, err := s.ParseDAG(res.Arch)
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	net, err := nn.BuildDAG(a, res.Seed)
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	ck, err := nn.LoadCheckpoint(filepath.Join(dir, recipe.CheckpointFile))
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	if err := ck.Restore(net, nil); err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	return &Trained{Dir: dir, Result: res, Arch: a, Net: net}, nil
}

// Quantize folds the batch norms, calibrates on calib training images
// spread over the split, and returns the int8 model.
func (t *Trained) Quantize(train *fmnist.Set, calib int, opts quantize.CalibOptions) (*tflite.Model, error) {
	if calib <= 0 || calib > train.Len() {
		return nil, fmt.Errorf("quantize: --calib %d must be in 1..%d (training images)", calib, train.Len())
	}
	imgs := make([][]float32, calib)
	for i := range imgs {
		imgs[i] = train.Image(i * train.Len() / calib)
	}
	m, err := nn.QuantizeDAG(t.Net, t.Arch, imgs, opts)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", t.Dir, err)
	}
	return m, nil
}
