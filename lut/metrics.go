package lut

import (
	"fmt"
	"math"
)

// Accuracy is how well a predictor matched measured latencies, in the terms
// nn-Meter reports: RMSE, RMSPE, the share of models within +-5/10/15%, and
// Kendall's tau (does the predictor rank models as the device does).
type Accuracy struct {
	Predictor string  `json:"predictor"`
	N         int     `json:"n"`
	RMSE      float64 `json:"rmse_ms"`
	RMSPE     float64 `json:"rmspe_pct"`
	// MeanError is the mean signed relative error in percent (bias).
	MeanError  float64 `json:"mean_error_pct"`
	Within5    float64 `json:"within_5pct"`
	Within10   float64 `json:"within_10pct"`
	Within15   float64 `json:"within_15pct"`
	KendallTau float64 `json:"kendall_tau"`
}

func (a Accuracy) String() string {
	return fmt.Sprintf("%-22s n=%d RMSE %.3f ms, RMSPE %.2f%%, bias %+.2f%%, within 5%% %.1f%%, 10%% %.1f%%, 15%% %.1f%%, tau %.3f",
		a.Predictor, a.N, a.RMSE, a.RMSPE, a.MeanError, 100*a.Within5, 100*a.Within10, 100*a.Within15, a.KendallTau)
}

// Score compares predictions with measurements (both in ms, same order).
func Score(name string, measured, predicted []float64) (Accuracy, error) {
	n := len(measured)
	if n == 0 || len(predicted) != n {
		return Accuracy{}, fmt.Errorf("score %s: %d measured and %d predicted values", name, n, len(predicted))
	}
	a := Accuracy{Predictor: name, N: n}
	var se, spe, bias float64
	var w5, w10, w15 int
	for i := range measured {
		m, p := measured[i], predicted[i]
		if !(m > 0) || math.IsNaN(p) || math.IsInf(p, 0) {
			return Accuracy{}, fmt.Errorf("score %s: model %d has measured %g, predicted %g", name, i, m, p)
		}
		d := p - m
		rel := d / m
		se += d * d
		spe += rel * rel
		bias += rel
		ar := math.Abs(rel)
		if ar <= 0.05 {
			w5++
		}
		if ar <= 0.10 {
			w10++
		}
		if ar <= 0.15 {
			w15++
		}
	}
	fn := float64(n)
	a.RMSE = math.Sqrt(se / fn)
	a.RMSPE = 100 * math.Sqrt(spe/fn)
	a.MeanError = 100 * bias / fn
	a.Within5, a.Within10, a.Within15 = float64(w5)/fn, float64(w10)/fn, float64(w15)/fn
	a.KendallTau = KendallTau(measured, predicted)
	return a, nil
}

// KendallTau is Kendall's tau-b rank correlation of x and y (ties handled).
// It is 0 when either sequence is constant or shorter than two.
func KendallTau(x, y []float64) float64 {
	var conc, disc, tx, ty float64
	for i := 0; i < len(x); i++ {
		for j := i + 1; j < len(x); j++ {
			dx, dy := sign(x[i]-x[j]), sign(y[i]-y[j])
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case dx == dy:
				conc++
			default:
				disc++
			}
		}
	}
	den := math.Sqrt((conc + disc + tx) * (conc + disc + ty))
	if den == 0 {
		return 0
	}
	return (conc - disc) / den
}

func sign(v float64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
