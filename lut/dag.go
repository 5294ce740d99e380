package lut

import (
	"gonum.org/v1/gonum/floats"

	"context"
	"fmt"
	"math/rand/v2"

	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// DAGPredictor estimates the latency of a DAG-space topology in milliseconds.
type DAGPredictor interface {
	Name() string
	PredictDAG(a space.DAGArch) (Prediction, error)
}

// The DAG predictors this package provides.
var (
	_ DAGPredictor = (*LUTPredictor)(nil)
	_ DAGPredictor = (*Calibrated)(nil)
)

// PredictDAG sums the table over the topology's layers: one entry per node
// op and shape, one per two-input ADD, plus stem, transitions and head.
func (p *LUTPredictor) PredictDAG(a space.DAGArch) (Prediction, error) {
	if a.Space == nil || a.NumEdges() == 0 {
		return Prediction{}, fmt.Errorf("%s: empty DAG architecture", p.Name())
	}
	return p.PredictLayers(a.Layers())
}

// PredictDAG applies the fitted correction to the topology's LUT sum.
func (c *Calibrated) PredictDAG(a space.DAGArch) (Prediction, error) {
	if len(c.Coef) != len(c.Features) {
		return Prediction{}, fmt.Errorf("%s: not fitted", c.Name())
	}
	p, err := c.base.PredictDAG(a)
	if err != nil {
		return Prediction{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	p.Millis = floats.Dot(c.row(p), c.Coef)
	return p, nil
}

// DAGSample is one measured DAG-space model.
type DAGSample struct {
	Arch   space.DAGArch
	Millis float64
}

// FitDAG estimates the coefficients from measured DAG models (see Fit).
func (c *Calibrated) FitDAG(samples []DAGSample) error {
	X := make([][]float64, len(samples))
	y := make([]float64, len(samples))
	for i, s := range samples {
		p, err := c.base.PredictDAG(s.Arch)
		if err != nil {
			return fmt.Errorf("%s: sample %d: %w", c.Name(), i, err)
		}
		X[i], y[i] = c.row(p), s.Millis
	}
	return c.fitRows(X, y)
}

// SpreadDAGs returns n topologies whose edge counts step evenly from 1 to
// the complete DAG, so a calibration spans the latency range.
func SpreadDAGs(s *space.DAGSpace, n int, seed uint64) []space.DAGArch {
	rng := rand.New(rand.NewPCG(seed, 0x737072656164))
	out := make([]space.DAGArch, n)
	for i := range out {
		m := s.MaxEdges()
		if n > 1 {
			m = 1 + i*(s.MaxEdges()-1)/(n-1)
		}
		out[i] = s.RandomDAGEdges(rng, m)
	}
	return out
}

// ValidateDAG is Validate for DAG space s (job.Space is not used): random
// topologies built and measured end to end, scored against the LUT sum and
// a calibrated predictor fitted on separately measured topologies spread
// over the edge counts.
func ValidateDAG(ctx context.Context, s *space.DAGSpace, job ValidateJob) (*ValidateReport, error) {
	if s == nil {
		return nil, fmt.Errorf("validate: no DAG space")
	}
	sum, err := job.start()
	if err != nil {
		return nil, err
	}
	archs := SpreadDAGs(s, job.Calib, job.Seed+1_000_000)
	for i := 0; i < job.Models; i++ {
		archs = append(archs, s.RandomDAGSeed(job.Seed+uint64(i)))
	}
	names := make([]string, len(archs))
	for i, a := range archs {
		names[i] = a.String()
	}
	rows, where, err := job.measureRows(ctx, names, func(k int) (*tflite.Model, error) {
		return quantize.DAGModel(archs[k], profiler.ModelSeed(names[k]))
	})
	if err != nil {
		return nil, err
	}
	rep := &ValidateReport{Space: s.Name, Table: job.Table.String(), Rows: rows, Measured: where}
	preds := []DAGPredictor{sum}
	if job.Calib > 0 {
		cal, err := NewCalibrated(job.Table, FormAffine)
		if err != nil {
			return nil, err
		}
		samples := make([]DAGSample, job.Calib)
		for i := range samples {
			samples[i] = DAGSample{Arch: archs[i], Millis: rows[i].Measured}
		}
		if err := cal.FitDAG(samples); err != nil {
			return nil, fmt.Errorf("validate: fit calibrated predictor on %d models: %w", job.Calib, err)
		}
		cal.setProvenance(where)
		rep.Calibrated = cal
		preds = append(preds, cal)
	}
	for _, p := range preds {
		name := p.Name()
		if sp, ok := p.(Predictor); ok {
			name = shortName(sp)
		}
		if err := rep.score(name, func(k int) (Prediction, error) { return p.PredictDAG(archs[k]) }); err != nil {
			return nil, err
		}
	}
	return rep, nil
}
