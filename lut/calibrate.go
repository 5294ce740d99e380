package lut

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"edgenas/internal/safefile"
	"edgenas/space"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Calibration forms: the features a calibrated predictor regresses on.
const (
	// FormScale: ms = a*lutsum + c. Fits a device whose whole-model runs are
	// uniformly faster or slower than its isolated layers, plus fixed overhead.
	FormScale = "scale"
	// FormAffine: ms = a*lutsum + b*layers + c, layers counting non-skip
	// layers: a per-layer overhead (or fusion saving) the sum misses.
	FormAffine = "affine"
)

// Sample is one whole model measured on the device.
type Sample struct {
	Arch   space.Arch
	Millis float64
}

// Calibrated corrects a LUT sum with a small least-squares regression fitted
// on a handful of measured whole models: isolated-layer tables miss
// inter-layer effects (cache, fusion, dispatch), which are mostly linear.
// It serialises to JSON; the table is not part of it and is attached on load.
type Calibrated struct {
	Form     string    `json:"form"`
	Features []string  `json:"features"`
	Coef     []float64 `json:"coef"`
	Device   string    `json:"device"`
	Backend  string    `json:"backend"`
	Threads  int       `json:"threads"`
	// Samples and RMSE describe the fit (RMSE in ms, in-sample).
	Samples int     `json:"samples"`
	RMSE    float64 `json:"rmse_ms"`
	// SEEncoding is the space.SEEncoding of the models the fit was measured
	// on: whole-model times of another encoding do not calibrate this one.
	SEEncoding int `json:"se_encoding"`
	// Source, Host, Class and Devices say where the fitted models were
	// measured (see Provenance): a class table is corrected only by a fit
	// its own devices measured.
	Source  string   `json:"source,omitempty"`
	Host    string   `json:"host,omitempty"`
	Class   string   `json:"class,omitempty"`
	Devices []string `json:"devices,omitempty"`

	base *LUTPredictor
}

// NewCalibrated makes an unfitted calibrated predictor over a table.
func NewCalibrated(t *Table, form string) (*Calibrated, error) {
	base, err := NewLUTPredictor(t)
	if err != nil {
		return nil, err
	}
	c := &Calibrated{Form: form, Device: t.Device, Backend: t.Backend, Threads: t.Threads,
		SEEncoding: space.SEEncoding, base: base}
	switch form {
	case FormScale:
		c.Features = []string{"lutsum_ms", "const"}
	case FormAffine:
		c.Features = []string{"lutsum_ms", "layers", "const"}
	default:
		return nil, fmt.Errorf("calibration form %q unknown (want %q or %q)", form, FormScale, FormAffine)
	}
	return c, nil
}

// Name identifies the predictor, its form and its table.
func (c *Calibrated) Name() string { return "calibrated-" + c.Form + ":" + c.base.Table.String() }

// features returns the regression row of an architecture and its LUT prediction.
func (c *Calibrated) features(a space.Arch) ([]float64, Prediction, error) {
	p, err := c.base.Predict(a)
	if err != nil {
		return nil, Prediction{}, err
	}
	return c.row(p), p, nil
}

// row is the regression row of a LUT prediction.
func (c *Calibrated) row(p Prediction) []float64 {
	if c.Form == FormScale {
		return []float64{p.Millis, 1}
	}
	return []float64{p.Millis, float64(len(p.Terms)), 1}
}

// Fit estimates the coefficients from measured models. It needs more samples
// than coefficients and samples that vary in every feature (an affine fit on
// models that all have the same layer count cannot tell overhead from the
// constant, and says so).
func (c *Calibrated) Fit(samples []Sample) error {
	X := make([][]float64, len(samples))
	y := make([]float64, len(samples))
	for i, s := range samples {
		row, _, err := c.features(s.Arch)
		if err != nil {
			return fmt.Errorf("%s: sample %d: %w", c.Name(), i, err)
		}
		X[i], y[i] = row, s.Millis
	}
	return c.fitRows(X, y)
}

// fitRows fits the coefficients on regression rows X and measured latencies y.
func (c *Calibrated) fitRows(X [][]float64, y []float64) error {
	if k := len(c.Features); len(y) <= k {
		return fmt.Errorf("%s: %d samples, need more than %d", c.Name(), len(y), k)
	}
	for i, ms := range y {
		if !(ms > 0) || math.IsInf(ms, 0) {
			return fmt.Errorf("%s: sample %d: latency %g ms must be positive", c.Name(), i, ms)
		}
	}
	coef, err := leastSquares(X, y)
	if err != nil {
		return fmt.Errorf("%s: %w (features %v)", c.Name(), err, c.Features)
	}
	var ss float64
	for i := range X {
		d := floats.Dot(X[i], coef) - y[i]
		ss += d * d
	}
	c.Coef, c.Samples, c.RMSE = coef, len(y), math.Sqrt(ss/float64(len(y)))
	// A fit the reader would refuse is refused here, so no calibration
	// file is written that search and predict cannot use.
	if err := c.checkSaved(); err != nil {
		c.Coef = nil
		return fmt.Errorf("%s: implausible fit on %d models (%w): measure more, or more varied, models", c.Name(), len(y), err)
	}
	return nil
}

// Predict applies the fitted correction to the LUT sum; the terms are the LUT's.
func (c *Calibrated) Predict(a space.Arch) (Prediction, error) {
	if len(c.Coef) != len(c.Features) {
		return Prediction{}, fmt.Errorf("%s: not fitted", c.Name())
	}
	row, p, err := c.features(a)
	if err != nil {
		return Prediction{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	p.Millis = floats.Dot(row, c.Coef)
	return p, nil
}

// WriteJSON saves the fitted model.
func (c *Calibrated) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	return nil
}

// ReadCalibrated loads a model saved by WriteJSON and attaches the table it
// was fitted on; a table of another device, backend or thread count is
// refused, and so is a fit measured on models of another SE encoding.
func ReadCalibrated(r io.Reader, t *Table) (*Calibrated, error) {
	var saved Calibrated
	if err := decodeCalibration(r, &saved); err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	if saved.SEEncoding != space.SEEncoding {
		return nil, fmt.Errorf("read calibration: fitted on models with squeeze-and-excitation encoding %d "+
			"(0: recorded before encodings were), this edgenas writes encoding %d; fit it again", saved.SEEncoding, space.SEEncoding)
	}
	c, err := NewCalibrated(t, saved.Form)
	if err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	if saved.Device != t.Device || saved.Backend != t.Backend || saved.Threads != t.Threads {
		return nil, fmt.Errorf("read calibration: fitted on %s/%s/%dt, table is %s",
			saved.Device, saved.Backend, saved.Threads, t)
	}
	if len(saved.Coef) != len(c.Features) || fmt.Sprint(saved.Features) != fmt.Sprint(c.Features) {
		return nil, fmt.Errorf("read calibration: features %v with %d coefficients do not match form %s %v",
			saved.Features, len(saved.Coef), saved.Form, c.Features)
	}
	// Where it was measured first: a calibration of another place is wrong
	// for this table whatever its numbers.
	if err := saved.checkMeasuredLike(t); err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	if err := saved.checkSaved(); err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	c.Coef, c.Samples, c.RMSE = saved.Coef, saved.Samples, saved.RMSE
	c.setProvenance(saved.provenance())
	return c, nil
}

// ReadCalibratedFile is ReadCalibrated on a file; errors name the file.
func ReadCalibratedFile(path string, t *Table) (*Calibrated, error) {
	f, _, err := safefile.Open(path, MaxCalibrationBytes)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer f.Close()
	c, err := ReadCalibrated(f, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// leastSquares solves min ||X b - y|| by Householder QR (better conditioned
// than the normal equations), refusing rank-deficient designs: a column whose
// part outside the span of the earlier ones (|R_jj|) is below 1e-9 of its own
// norm carries no information of its own over these samples.
func leastSquares(X [][]float64, y []float64) ([]float64, error) {
	m, n := len(X), len(X[0])
	A := mat.NewDense(m, n, nil)
	for i, row := range X {
		A.SetRow(i, row)
	}
	norms := make([]float64, n)
	for j := range norms {
		norms[j] = mat.Norm(A.ColView(j), 2)
		if norms[j] == 0 {
			return nil, fmt.Errorf("feature %d is zero in every sample", j)
		}
	}
	var qr mat.QR
	qr.Factorize(A)
	var R mat.Dense
	qr.RTo(&R)
	for j := 0; j < n; j++ {
		if math.Abs(R.At(j, j)) <= 1e-9*norms[j] {
			return nil, fmt.Errorf("feature %d is (nearly) a combination of the others over these samples", j)
		}
	}
	var coef mat.Dense
	if err := qr.SolveTo(&coef, false, mat.NewDense(m, 1, append([]float64(nil), y...))); err != nil {
		return nil, fmt.Errorf("least squares: %w", err)
	}
	return mat.Col(nil, 0, &coef), nil
}
