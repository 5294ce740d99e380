// Package foxnas implements the FOX-NAS search (Liu et al., 2021) on edgenas
// spaces: explainable performance predictors fitted by ordinary least squares
// on a handful of architecture features (per-stage depth, mean expansion and
// kernel, the transition block's choices, their interactions), and a
// simulated-annealing search under a predicted-latency constraint.
//
// The predictors are deliberately linear so that every coefficient can be
// read ("+0.4 pp per extra block in stage 2"); the package therefore reports
// standard errors, t statistics and cross-validated error next to each fit.
//
// # One-shot search on spnas-fmnist
//
// RunSearch is the whole method: OneShot trains the Single-Path NAS
// supernet (spnas.Supernet) as a weight-sharing one-shot model, one
// uniformly sampled sub-network per step (ArchEncoding.Random: depth per
// stage, then kernel, expansion and SE per used slot, as once-for-all
// samples); SubnetEvaluator measures sampled sub-networks on validation
// images after recalibrating batch norm for each; the accuracy predictor is
// fitted on those, the latency predictor on LUT sums of random
// architectures; the annealer maximises predicted accuracy with predicted
// latency within a band around the target (BandProblem), and RankPicks puts
// the picks whose LUT sum is also in the band first.
package foxnas

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// InterceptName names the constant column every fit includes.
const InterceptName = "(intercept)"

// Coef is one fitted coefficient with its uncertainty.
type Coef struct {
	Name     string  `json:"name"`
	Estimate float64 `json:"estimate"`
	StdErr   float64 `json:"std_err"`
	T        float64 `json:"t"`
	// P is the two-sided p-value of the t statistic (H0: coefficient = 0).
	P float64 `json:"p"`
	// Dropped marks a column left out because it is a linear combination of
	// the others; its Estimate is 0 and it plays no part in predictions.
	Dropped bool `json:"dropped,omitempty"`
}

// Collinear names a column found to be a linear combination of others.
type Collinear struct {
	Name string   `json:"name"`
	Of   []string `json:"of"`
}

func (c Collinear) String() string {
	if len(c.Of) == 0 {
		return c.Name + " is constant zero"
	}
	return c.Name + " = linear combination of " + strings.Join(c.Of, ", ")
}

// RankError reports a rank-deficient design: the listed columns are linear
// combinations of earlier ones, so their coefficients are not identifiable.
type RankError struct {
	Collinear []Collinear
}

func (e *RankError) Error() string {
	parts := make([]string, len(e.Collinear))
	for i, c := range e.Collinear {
		parts[i] = c.String()
	}
	return "design matrix is rank deficient: " + strings.Join(parts, "; ")
}

// Fit is an ordinary-least-squares fit with its summary statistics.
type Fit struct {
	// Coefs holds the intercept first, then one entry per input column in order.
	Coefs   []Coef      `json:"coefs"`
	Dropped []Collinear `json:"dropped,omitempty"`
	FitStats
}

// FitStats summarises how well a least-squares fit explains its data.
type FitStats struct {
	N int `json:"n"`
	// Params counts the estimated coefficients (intercept included, dropped excluded).
	Params int     `json:"params"`
	R2     float64 `json:"r2"`
	AdjR2  float64 `json:"adj_r2"`
	// RMSE is sqrt(SSE/N), the in-sample root-mean-square residual.
	RMSE float64 `json:"rmse"`
	// ResidualSE is sqrt(SSE/(N-Params)), R's "residual standard error".
	ResidualSE float64 `json:"residual_se"`
}

// OLSOptions tunes a fit.
type OLSOptions struct {
	// DropCollinear drops columns that are linear combinations of earlier
	// ones (and records them in Fit.Dropped) instead of failing with a RankError.
	DropCollinear bool
}

// collinearTol is the relative residual norm below which a column counts as
// lying in the span of the earlier ones. Designs here are small integer
// features and their products, so genuine dependence gives ~1e-14.
const collinearTol = 1e-9

// OLS fits y = b0 + sum_j b_j x[i][j] by least squares. x holds one row per
// observation; names names its columns.
func OLS(x [][]float64, y []float64, names []string, opt OLSOptions) (*Fit, error) {
	n := len(y)
	if len(x) != n {
		return nil, fmt.Errorf("ols: %d rows of features but %d responses", len(x), n)
	}
	p := len(names)
	for i, r := range x {
		if len(r) != p {
			return nil, fmt.Errorf("ols: row %d has %d features, want %d (%d names)", i, len(r), p, p)
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("ols: row %d feature %s is %v", i, names[j], v)
			}
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, fmt.Errorf("ols: response %d is %v", i, y[i])
		}
	}
	all := append([]string{InterceptName}, names...)
	cols := make([][]float64, p+1)
	cols[0] = make([]float64, n)
	for i := range cols[0] {
		cols[0][i] = 1
	}
	for j := 0; j < p; j++ {
		cols[j+1] = make([]float64, n)
		for i := range x {
			cols[j+1][i] = x[i][j]
		}
	}
	keep, dropped := independentColumns(cols, all)
	if len(dropped) > 0 && !opt.DropCollinear {
		return nil, &RankError{Collinear: dropped}
	}
	k := len(keep)
	if n <= k {
		return nil, fmt.Errorf("ols: %d observations for %d coefficients: need more observations than coefficients", n, k)
	}
	X := mat.NewDense(n, k, nil)
	for c, j := range keep {
		for i := 0; i < n; i++ {
			X.Set(i, c, cols[j][i])
		}
	}
	Y := mat.NewDense(n, 1, append([]float64(nil), y...))
	var qr mat.QR
	qr.Factorize(X)
	var beta mat.Dense
	if err := qr.SolveTo(&beta, false, Y); err != nil {
		return nil, fmt.Errorf("ols: solve: %w", err)
	}
	var sse, mean, sst float64
	for i := 0; i < n; i++ {
		mean += y[i]
	}
	mean /= float64(n)
	for i := 0; i < n; i++ {
		pred := 0.0
		for c := 0; c < k; c++ {
			pred += X.At(i, c) * beta.At(c, 0)
		}
		sse += (y[i] - pred) * (y[i] - pred)
		sst += (y[i] - mean) * (y[i] - mean)
	}
	df := float64(n - k)
	sigma2 := sse / df
	// Cov(beta) = sigma^2 (X'X)^-1 = sigma^2 R^-1 R^-T, from the QR factor
	// rather than by inverting X'X, which would square the condition number.
	var rFull mat.Dense
	qr.RTo(&rFull)
	rt := mat.NewTriDense(k, mat.Upper, nil)
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			rt.SetTri(i, j, rFull.At(i, j))
		}
	}
	var rinv mat.TriDense
	if err := rinv.InverseTri(rt); err != nil {
		var cond mat.Condition
		if !errors.As(err, &cond) {
			return nil, fmt.Errorf("ols: invert R: %w", err)
		}
	}
	f := &Fit{FitStats: FitStats{N: n, Params: k}, Dropped: dropped, Coefs: make([]Coef, p+1)}
	tdist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	for j := range all {
		f.Coefs[j] = Coef{Name: all[j], Dropped: true}
	}
	for c, j := range keep {
		v := 0.0
		for m := c; m < k; m++ {
			v += rinv.At(c, m) * rinv.At(c, m)
		}
		se := math.Sqrt(sigma2 * v)
		est := beta.At(c, 0)
		cf := Coef{Name: all[j], Estimate: est, StdErr: se}
		if se > 0 {
			cf.T = est / se
			cf.P = 2 * tdist.Survival(math.Abs(cf.T))
		}
		f.Coefs[j] = cf
	}
	if sst > 0 {
		f.R2 = 1 - sse/sst
		f.AdjR2 = 1 - (1-f.R2)*float64(n-1)/df
	}
	f.RMSE = math.Sqrt(sse / float64(n))
	f.ResidualSE = math.Sqrt(sigma2)
	return f, nil
}

// Predict evaluates the fit at one feature row (the input columns, without
// the intercept).
func (f *Fit) Predict(row []float64) (float64, error) {
	if len(row) != len(f.Coefs)-1 {
		return 0, fmt.Errorf("predict: %d features, fit has %d", len(row), len(f.Coefs)-1)
	}
	v := f.Coefs[0].Estimate
	for j, x := range row {
		v += f.Coefs[j+1].Estimate * x
	}
	return v, nil
}

// independentColumns walks the columns in order with modified Gram-Schmidt
// (applied twice for stability) and keeps those with a component outside the
// span of the kept ones. For each dropped column it names the kept columns
// that make it up, which is what a user needs to fix the design.
func independentColumns(cols [][]float64, names []string) (keep []int, dropped []Collinear) {
	var basis [][]float64 // orthonormal
	for j, c := range cols {
		v := append([]float64(nil), c...)
		norm0 := norm(v)
		for pass := 0; pass < 2; pass++ {
			for _, q := range basis {
				d := floats.Dot(q, v)
				for i := range v {
					v[i] -= d * q[i]
				}
			}
		}
		r := norm(v)
		if norm0 == 0 || r <= collinearTol*norm0 {
			dropped = append(dropped, Collinear{Name: names[j], Of: spanningNames(cols, names, keep, c)})
			continue
		}
		for i := range v {
			v[i] /= r
		}
		basis = append(basis, v)
		keep = append(keep, j)
	}
	return keep, dropped
}

// spanningNames solves target = sum b_k cols[keep[k]] and returns the names
// with a non-negligible contribution.
func spanningNames(cols [][]float64, names []string, keep []int, target []float64) []string {
	if len(keep) == 0 || norm(target) == 0 {
		return nil
	}
	n := len(target)
	A := mat.NewDense(n, len(keep), nil)
	for c, j := range keep {
		for i := 0; i < n; i++ {
			A.Set(i, c, cols[j][i])
		}
	}
	var qr mat.QR
	qr.Factorize(A)
	var b mat.VecDense
	if err := qr.SolveVecTo(&b, false, mat.NewVecDense(n, append([]float64(nil), target...))); err != nil {
		return nil
	}
	tn := norm(target)
	var out []string
	for c, j := range keep {
		if math.Abs(b.AtVec(c))*norm(cols[j]) > 1e-6*tn {
			out = append(out, names[j])
		}
	}
	return out
}

func norm(a []float64) float64 { return math.Sqrt(floats.Dot(a, a)) }

// CV is a k-fold cross-validation of an OLS fit.
type CV struct {
	Folds int    `json:"folds"`
	Seed  uint64 `json:"seed"`
	// R2 is 1 - PRESS/SST over the pooled out-of-fold predictions.
	R2   float64 `json:"r2"`
	RMSE float64 `json:"rmse"`
	// Predicted holds each observation's out-of-fold prediction.
	Predicted []float64 `json:"-"`
}

// CrossValidate fits on k-1 folds and predicts the held-out one, for each
// fold. Observations are shuffled into folds by seed, so the result is
// reproducible.
func CrossValidate(x [][]float64, y []float64, names []string, opt OLSOptions, folds int, seed uint64) (*CV, error) {
	n := len(y)
	if folds < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, got %d", folds)
	}
	if folds > n {
		return nil, fmt.Errorf("cross-validation: %d folds for %d observations", folds, n)
	}
	if len(x) != n {
		return nil, fmt.Errorf("cross-validation: %d rows of features but %d responses", len(x), n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x666f786e6173))
	fold := make([]int, n)
	for i, j := range rng.Perm(n) {
		fold[j] = i % folds
	}
	pred := make([]float64, n)
	for k := 0; k < folds; k++ {
		var tx [][]float64
		var ty []float64
		for i := 0; i < n; i++ {
			if fold[i] != k {
				tx, ty = append(tx, x[i]), append(ty, y[i])
			}
		}
		f, err := OLS(tx, ty, names, opt)
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", k+1, folds, err)
		}
		for i := 0; i < n; i++ {
			if fold[i] == k {
				if pred[i], err = f.Predict(x[i]); err != nil {
					return nil, err
				}
			}
		}
	}
	var mean, press, sst float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	for i := range y {
		press += (y[i] - pred[i]) * (y[i] - pred[i])
		sst += (y[i] - mean) * (y[i] - mean)
	}
	cv := &CV{Folds: folds, Seed: seed, RMSE: math.Sqrt(press / float64(n)), Predicted: pred}
	if sst > 0 {
		cv.R2 = 1 - press/sst
	}
	return cv, nil
}
