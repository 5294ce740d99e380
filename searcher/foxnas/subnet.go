package foxnas

import (
	"context"
	"fmt"
	"math/rand/v2"

	"edgenas/dataset/fmnist"
	"edgenas/nn"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

// SubnetEvaluator measures sub-networks of a trained one-shot supernet on
// validation images without retraining. The supernet's batch-norm running
// statistics were accumulated over many different sub-networks and fit
// none of them, so before each evaluation they are recalibrated, as
// once-for-all does: reset, then set to the exact mean of the batch
// statistics of the forced sub-network over CalibBatches fixed training
// batches (no weights change). A fixed architecture therefore always gets
// the same accuracy, whatever was evaluated before.
type SubnetEvaluator struct {
	Net *spnas.Supernet
	// Calib supplies the calibration batches (its first CalibBatches*Batch images).
	Calib        *fmnist.Set
	CalibBatches int
	Batch        int
	// Val is the evaluation set (the validation split or a prefix of it).
	Val *fmnist.Set
	bns []*nn.BatchNorm
}

// NewSubnetEvaluator checks the sets are large enough.
func NewSubnetEvaluator(sn *spnas.Supernet, calib *fmnist.Set, calibBatches, batch int, val *fmnist.Set) (*SubnetEvaluator, error) {
	switch {
	case sn == nil:
		return nil, fmt.Errorf("sub-network evaluator: no supernet")
	case batch <= 0 || calibBatches <= 0:
		return nil, fmt.Errorf("sub-network evaluator: batch %d and calibration batches %d must be positive", batch, calibBatches)
	case calib == nil || calib.Len() < calibBatches*batch:
		return nil, fmt.Errorf("sub-network evaluator: calibration needs %d images (%d batches of %d)", calibBatches*batch, calibBatches, batch)
	case val == nil || val.Len() == 0:
		return nil, fmt.Errorf("sub-network evaluator: no validation images")
	}
	ev := &SubnetEvaluator{Net: sn, Calib: calib, CalibBatches: calibBatches, Batch: batch, Val: val}
	for _, l := range sn.Net.Layers {
		switch l := l.(type) {
		case *nn.BatchNorm:
			ev.bns = append(ev.bns, l)
		case *nn.MBConv:
			ev.bns = append(ev.bns, l.ExpandBN, l.DWBN, l.ProjBN)
		case *spnas.Block:
			ev.bns = append(ev.bns, l.ExpandBN, l.DWBN, l.ProjBN)
		}
	}
	var kept []*nn.BatchNorm
	for _, b := range ev.bns {
		if b != nil { // an MBConv without expansion has no ExpandBN
			kept = append(kept, b)
		}
	}
	ev.bns = kept
	// Every running statistic must belong to a batch norm found above, or
	// a layer type this walk does not know would keep stale statistics.
	if want, got := len(sn.Net.Buffers()), 2*len(ev.bns); want != got {
		return nil, fmt.Errorf("sub-network evaluator: found %d batch norms (%d running tensors) but the supernet has %d running tensors", len(ev.bns), got, want)
	}
	return ev, nil
}

// Recalibrate sets the running statistics of every batch norm to the mean
// of the forced sub-network's batch statistics over the calibration batches.
func (ev *SubnetEvaluator) Recalibrate(a space.Arch) error {
	if err := ev.Net.Force(&a); err != nil {
		return err
	}
	saved := make([]float32, len(ev.bns))
	for i, b := range ev.bns {
		saved[i] = b.Momentum
	}
	defer func() {
		for i, b := range ev.bns {
			b.Momentum = saved[i]
		}
	}()
	per := fmnist.Pixels
	for k := range ev.CalibBatches {
		// Momentum k/(k+1) makes the running value the plain mean of the
		// k+1 batch statistics so far (k = 0 discards the old value).
		for _, b := range ev.bns {
			b.Momentum = float32(k) / float32(k+1)
		}
		lo := k * ev.Batch
		if _, err := ev.Net.Net.Forward(ev.Calib.Images[lo*per:(lo+ev.Batch)*per], ev.Batch, true); err != nil {
			return fmt.Errorf("recalibrate %s: %w", a, err)
		}
	}
	return nil
}

// Evaluate recalibrates the batch norms for a and returns its validation
// accuracy (fraction) and mean loss.
func (ev *SubnetEvaluator) Evaluate(a space.Arch) (acc, loss float64, err error) {
	if err := ev.Recalibrate(a); err != nil {
		return 0, 0, err
	}
	// The training batch size, not a larger one: the supernet always
	// computes its full k5e6+se path, and its activation buffers grow with
	// the batch (a 500-image batch takes over 4 GB on spnas-fmnist).
	acc, loss, err = ev.Net.Net.Evaluate(ev.Val.Images, ev.Val.Labels, ev.Batch)
	if err != nil {
		return 0, 0, fmt.Errorf("evaluate %s: %w", a, err)
	}
	return acc, loss, nil
}

// SubnetSample is one evaluated sub-network.
type SubnetSample struct {
	Arch string  `json:"arch"`
	Acc  float64 `json:"accuracy"` // validation accuracy in percent
	Loss float64 `json:"loss"`
	// TableMS is the LUT table sum (spnas.Runtime.Exact); 0 without a table.
	TableMS float64 `json:"table_ms"`
}

// SampleSubnets draws n distinct sub-networks with ArchEncoding.Random from
// seed and evaluates each. rt (may be nil) adds the table latency. onDone
// (may be nil) sees each finished sample.
func SampleSubnets(ctx context.Context, ev *SubnetEvaluator, enc *ArchEncoding, rt *spnas.Runtime, n int, seed uint64, onDone func(SubnetSample)) ([]SubnetSample, error) {
	if n <= 0 {
		return nil, fmt.Errorf("sample sub-networks: count %d must be positive", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x73616d706c65))
	seen := map[string]bool{}
	var out []SubnetSample
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n {
			return out, fmt.Errorf("sample sub-networks: only %d distinct architectures in %d draws", len(out), tries)
		}
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("sample sub-networks interrupted after %d of %d: %w", len(out), n, err)
		}
		a := enc.Random(rng)
		key := a.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		acc, loss, err := ev.Evaluate(a)
		if err != nil {
			return out, err
		}
		s := SubnetSample{Arch: key, Acc: 100 * acc, Loss: loss}
		if rt != nil {
			if s.TableMS, err = rt.Exact(a); err != nil {
				return out, err
			}
		}
		out = append(out, s)
		if onDone != nil {
			onDone(s)
		}
	}
	return out, nil
}
