package lut

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Bounds on a calibration read from a file. A fit on real measurements lands
// well inside them; a value outside is a corrupt or hand-edited file, which
// would otherwise predict negative or infinite latencies.
const (
	// MaxCalibrationBytes bounds a calibration file (a fitted one is < 1 KB).
	MaxCalibrationBytes = 1 << 20
	// MinCalibSlope and MaxCalibSlope bound the coefficient on the LUT sum:
	// whole models run between 100 times faster and 100 times slower than
	// their isolated layers summed.
	MinCalibSlope = 0.01
	MaxCalibSlope = 100
	// MaxCalibPerLayerMs bounds the per-layer overhead (or saving) in ms.
	MaxCalibPerLayerMs = 100
	// MaxCalibConstMs bounds the constant term in ms.
	MaxCalibConstMs = 1000
)

// decodeCalibration decodes exactly one JSON object with only the fields of
// Calibrated, and nothing after it but white space.
func decodeCalibration(r io.Reader, c *Calibrated) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxCalibrationBytes+1))
	if err != nil {
		return err
	}
	if len(b) > MaxCalibrationBytes {
		return fmt.Errorf("more than %d bytes", MaxCalibrationBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
}

// checkSaved validates a decoded calibration against the bounds above;
// errors name the field. The form and feature list are checked by the caller.
func (c *Calibrated) checkSaved() error {
	for i, v := range c.Coef {
		name := fmt.Sprintf("coef[%d]", i)
		if i < len(c.Features) {
			name = fmt.Sprintf("coef[%d] (%s)", i, c.Features[i])
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s is %g, want a finite number", name, v)
		}
		if i >= len(c.Features) {
			continue
		}
		switch c.Features[i] {
		case "lutsum_ms":
			if v < MinCalibSlope || v > MaxCalibSlope {
				return fmt.Errorf("%s = %g out of %g..%g: whole models cannot run that much faster or slower than their layers", name, v, float64(MinCalibSlope), float64(MaxCalibSlope))
			}
		case "layers":
			if math.Abs(v) > MaxCalibPerLayerMs {
				return fmt.Errorf("%s = %g ms out of -%g..%g ms per layer", name, v, float64(MaxCalibPerLayerMs), float64(MaxCalibPerLayerMs))
			}
		case "const":
			if math.Abs(v) > MaxCalibConstMs {
				return fmt.Errorf("%s = %g ms out of -%g..%g ms", name, v, float64(MaxCalibConstMs), float64(MaxCalibConstMs))
			}
		}
	}
	if math.IsNaN(c.RMSE) || math.IsInf(c.RMSE, 0) || c.RMSE < 0 {
		return fmt.Errorf("rmse_ms %g must be finite and non-negative", c.RMSE)
	}
	if c.Samples <= len(c.Features) {
		return fmt.Errorf("samples %d: a fit of %d coefficients needs more", c.Samples, len(c.Features))
	}
	if c.Threads < 1 {
		return fmt.Errorf("threads %d must be at least 1", c.Threads)
	}
	return nil
}
