// Package autoshrink is AutoShrink (Zhang et al., AAAI 2020) on a DAG space:
// start from the complete cell DAG and remove one edge per step; at each step
// k random live edges are tried, a fresh network without that edge is trained
// from scratch on a small proxy task and scored by validation accuracy minus
// a latency cost, and the best removal is kept (dead nodes pruned). Only the
// topology carries over between steps; every step's topology is a snapshot,
// and the pick is the best-scoring snapshot under the latency target.
package autoshrink

import (
	"context"
	"fmt"
	"math/rand/v2"

	"edgenas/dataset/fmnist"
	"edgenas/nn"
	"edgenas/space"
)

// ProxyConfig is the reference's per-candidate training: Adam at a constant
// rate, a few epochs with early exits, on a class-balanced subset.
type ProxyConfig struct {
	// TrainPerClass and ValPerClass size the proxy (500 and 100 in the
	// reference): drawn without replacement, training images from the
	// training split, validation images from the held-out part of the
	// training split (fmnist.Data.Val), never the test split.
	TrainPerClass, ValPerClass int
	Epochs                     int     // at most (20)
	Batch                      int     // 128
	LR                         float64 // Adam, constant (4e-3)
	WeightDecay                float64 // L2 (1e-5)
	// Patience ends training after that many epochs without a validation
	// gain (5).
	Patience int
}

// DefaultProxy is the reference's proxy recipe.
func DefaultProxy() ProxyConfig {
	return ProxyConfig{TrainPerClass: 500, ValPerClass: 100, Epochs: 20, Batch: 128, LR: 4e-3, WeightDecay: 1e-5, Patience: 5}
}

func (c ProxyConfig) validate() error {
	if c.TrainPerClass <= 0 || c.ValPerClass <= 0 || c.Epochs <= 0 || c.Batch <= 0 || !(c.LR > 0) || c.WeightDecay < 0 || c.Patience <= 0 {
		return fmt.Errorf("autoshrink: bad proxy recipe %+v (sizes, epochs, batch, lr, patience must be positive)", c)
	}
	return nil
}

// minStepsPerEpoch is the fewest optimizer steps per epoch that give a
// candidate a usable first validation: with 11 steps (150 images per class
// at batch 128) batch norm's running statistics were still far from the
// batch statistics, validation loss was over 3x the training loss and
// every candidate of a step exited on it at chance accuracy; at batch 32
// (46 steps) the same candidates reached 70-75%.
const minStepsPerEpoch = 20

// MaxBatch is the largest proxy batch that still gives minStepsPerEpoch
// optimizer steps per epoch on trainPerClass images per class (at least 1).
func MaxBatch(trainPerClass int) int {
	return max(1, trainPerClass*fmnist.Classes/minStepsPerEpoch)
}

// Warning says what is wrong with a proxy too small for its batch size, or
// is empty. The search still runs: the user may want the reference's exact
// recipe on a larger proxy.
func (c ProxyConfig) Warning() string {
	if c.Batch <= 0 {
		return ""
	}
	steps := c.TrainPerClass * fmnist.Classes / c.Batch
	if steps >= minStepsPerEpoch {
		return ""
	}
	return fmt.Sprintf("the proxy has %d optimizer steps per epoch (%d images per class at batch %d): fewer than %d leave "+
		"batch norm unsettled at the first validation and candidates exit on validation loss near chance; use --batch %d or less",
		steps, c.TrainPerClass, c.Batch, minStepsPerEpoch, MaxBatch(c.TrainPerClass))
}

// Early-exit reasons of a proxy training, as the reference has them.
const (
	ExitEpochs   = "epochs"       // ran every epoch
	ExitPatience = "patience"     // no validation gain for Patience epochs
	ExitLowAcc   = "low-acc"      // validation accuracy < 0.2 after epoch 4
	ExitValLoss  = "val-loss"     // validation loss > 3x the running training loss
	lowAccEpoch  = 4              // the epoch after which ExitLowAcc applies
	lowAcc       = 0.2            // its threshold
	valLossRatio = 3.0            // ExitValLoss's ratio
	fitAcc       = 0.98           // running training accuracy that ends an epoch early
	maxPerClass  = 6000           // the training split's images per class
	minPerClass  = 1              // at least one image per class
	pcgStream    = 0x6175746f7368 // "autosh": the proxy sampler's PCG stream
)

// Proxy is the proxy task: class-balanced training and validation subsets.
type Proxy struct {
	Train, Val *fmnist.Set
}

// NewProxy draws the proxy subsets from data (seeded, without
// replacement): perClass images of each class from data.Train and
// valPerClass from data.Val.
func NewProxy(data *fmnist.Data, trainPerClass, valPerClass int, seed uint64) (*Proxy, error) {
	if data == nil || data.Train == nil || data.Val == nil {
		return nil, fmt.Errorf("autoshrink: dataset incomplete")
	}
	if trainPerClass < minPerClass || trainPerClass > maxPerClass || valPerClass < minPerClass || valPerClass > maxPerClass {
		return nil, fmt.Errorf("autoshrink: proxy wants %d training and %d validation images per class (each 1..%d)",
			trainPerClass, valPerClass, maxPerClass)
	}
	rng := rand.New(rand.NewPCG(seed, pcgStream))
	tr, err := balanced(data.Train, trainPerClass, rng)
	if err != nil {
		return nil, fmt.Errorf("autoshrink: proxy training set: %w", err)
	}
	va, err := balanced(data.Val, valPerClass, rng)
	if err != nil {
		return nil, fmt.Errorf("autoshrink: proxy validation set: %w", err)
	}
	return &Proxy{Train: tr, Val: va}, nil
}

// balanced takes n images of every class from set in a seeded random order.
func balanced(set *fmnist.Set, n int, rng *rand.Rand) (*fmnist.Set, error) {
	var byClass [fmnist.Classes][]int
	for _, i := range rng.Perm(set.Len()) {
		c := set.Labels[i]
		if int(c) >= fmnist.Classes {
			return nil, fmt.Errorf("label %d of image %d outside [0,%d)", c, i, fmnist.Classes)
		}
		if len(byClass[c]) < n {
			byClass[c] = append(byClass[c], i)
		}
	}
	out := &fmnist.Set{}
	// Interleave the classes so any prefix stays balanced.
	for k := 0; k < n; k++ {
		for c := range byClass {
			if len(byClass[c]) < n {
				return nil, fmt.Errorf("class %d has %d images, want %d", c, len(byClass[c]), n)
			}
			i := byClass[c][k]
			out.Images = append(out.Images, set.Image(i)...)
			out.Labels = append(out.Labels, set.Labels[i])
		}
	}
	return out, nil
}

// ProxyResult is one candidate's proxy training.
type ProxyResult struct {
	ValAcc  float64 `json:"val_accuracy"` // best over epochs
	ValLoss float64 `json:"val_loss"`     // at the best epoch
	Epochs  int     `json:"epochs"`
	Exit    string  `json:"exit"`
}

// TrainProxy trains a fresh network of a on the proxy with cfg from seed,
// with the reference's early exits, and reports the best validation accuracy.
func TrainProxy(ctx context.Context, cfg ProxyConfig, p *Proxy, a space.DAGArch, seed uint64) (ProxyResult, error) {
	if err := cfg.validate(); err != nil {
		return ProxyResult{}, err
	}
	net, err := nn.BuildDAG(a, seed)
	if err != nil {
		return ProxyResult{}, err
	}
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "adam", WeightDecay: cfg.WeightDecay}, net.Params())
	if err != nil {
		return ProxyResult{}, err
	}
	batch := min(cfg.Batch, p.Train.Len())
	batches, err := fmnist.NewBatcher(p.Train, batch, seed)
	if err != nil {
		return ProxyResult{}, err
	}
	perEpoch := max(1, p.Train.Len()/batch)
	x := make([]float32, batch*fmnist.Pixels)
	y := make([]int, batch)
	res := ProxyResult{Exit: ExitEpochs}
	sinceBest := 0
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		var lossSum float64
		var correct, seen, steps int
		for range perEpoch {
			if err := ctx.Err(); err != nil {
				return ProxyResult{}, err
			}
			batches.Next(x, y)
			loss, c, err := net.TrainStep(x, y)
			if err != nil {
				return ProxyResult{}, fmt.Errorf("proxy training %s epoch %d: %w", a, epoch, err)
			}
			opt.Step(cfg.LR)
			lossSum, correct, seen, steps = lossSum+loss, correct+c, seen+len(y), steps+1
			if float64(correct)/float64(seen) > fitAcc {
				break
			}
		}
		// Evaluating at the training batch reuses the buffers training
		// sized; a larger batch grows every layer's buffers for the rest
		// of the candidate (3-5 GB resident with two workers at 500).
		acc, vloss, err := net.Evaluate(p.Val.Images, p.Val.Labels, batch)
		if err != nil {
			return ProxyResult{}, fmt.Errorf("proxy validation %s: %w", a, err)
		}
		res.Epochs = epoch
		if acc > res.ValAcc || epoch == 1 {
			res.ValAcc, res.ValLoss, sinceBest = acc, vloss, 0
		} else {
			sinceBest++
		}
		switch {
		case sinceBest >= cfg.Patience:
			res.Exit = ExitPatience
		case epoch >= lowAccEpoch && acc < lowAcc:
			res.Exit = ExitLowAcc
		case vloss > valLossRatio*lossSum/float64(steps):
			res.Exit = ExitValLoss
		default:
			continue
		}
		break
	}
	return res, nil
}
