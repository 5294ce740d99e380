package lut

import (
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	m := []float64{10, 20, 30, 40}
	p := []float64{10.4, 22, 27, 40}
	a, err := Score("x", m, p)
	if err != nil {
		t.Fatal(err)
	}
	// errors: +4%, +10%, -10%, 0%
	if a.Within5 != 0.5 || a.Within10 != 1 || a.Within15 != 1 {
		t.Errorf("within = %v %v %v", a.Within5, a.Within10, a.Within15)
	}
	if want := math.Sqrt((0.16 + 4 + 9 + 0) / 4); math.Abs(a.RMSE-want) > 1e-12 {
		t.Errorf("RMSE %v, want %v", a.RMSE, want)
	}
	if want := 100 * math.Sqrt((0.0016+0.01+0.01)/4); math.Abs(a.RMSPE-want) > 1e-9 {
		t.Errorf("RMSPE %v, want %v", a.RMSPE, want)
	}
	if math.Abs(a.MeanError-1) > 1e-9 {
		t.Errorf("bias %v, want 1%%", a.MeanError)
	}
	if a.KendallTau != 1 {
		t.Errorf("tau %v, want 1 (same order)", a.KendallTau)
	}
	if _, err := Score("x", m, p[:2]); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := Score("x", []float64{0}, []float64{1}); err == nil {
		t.Error("zero measurement accepted")
	}
}

func TestKendallTau(t *testing.T) {
	tests := []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 4.0 / 6},
		{[]float64{1, 1, 1}, []float64{1, 2, 3}, 0},
		// tau-b with a tie in y: conc 2, disc 0, ties in y 1 -> 2/sqrt(3*2)
		{[]float64{1, 2, 3}, []float64{1, 2, 2}, 2 / math.Sqrt(6)},
	}
	for _, tc := range tests {
		if got := KendallTau(tc.x, tc.y); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("KendallTau(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
