package lut

import (
	"math"
	"strings"
	"testing"

	"edgenas/space"
)

// macRuntime builds a table where every spnas-fmnist key costs its MAC count
// in microseconds plus 10 us, and its runtime model.
func macRuntime(t *testing.T) (*space.Space, map[string]float64, *Table, *SpaceRuntime) {
	t.Helper()
	s := space.MustLookup("spnas-fmnist")
	ms := map[string]float64{}
	for _, l := range s.UniqueKeys() {
		ms[l.Key()] = float64(l.MACs())/1e6 + 0.01
	}
	tab, err := TableFromMillis("dev", "ref", 1, "", ms)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewSpaceRuntime(s, tab)
	if err != nil {
		t.Fatal(err)
	}
	return s, ms, tab, rt
}

// A synthetic table where every key costs its MAC count in microseconds makes
// the formula checkable: exact for k3e6/k5e3/k5e6, and SE adds its own cost.
func TestSpaceRuntimeMatchesLUTSum(t *testing.T) {
	s, ms, tab, rt := macRuntime(t)
	sum, _ := NewLUTPredictor(tab)
	for seed := uint64(0); seed < 50; seed++ {
		a := s.RandomSeed(seed)
		exact := true
		for _, c := range a.Choices {
			if !c.Skip && c.Kernel == 3 && c.Expand == 3 {
				exact = false
			}
		}
		f, err := rt.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		l, err := sum.Predict(a)
		if err != nil {
			t.Fatal(err)
		}
		if exact && math.Abs(f.Millis-l.Millis) > 1e-9 {
			t.Errorf("%s: formula %v, lut sum %v", a, f.Millis, l.Millis)
		}
		if !exact && math.Abs(f.Millis-l.Millis) > 0.05*l.Millis {
			t.Errorf("%s: formula %v far from lut sum %v", a, f.Millis, l.Millis)
		}
	}
	delete(ms, s.FixedLayers()[0].Key())
	tab2, _ := TableFromMillis("dev", "ref", 1, "", ms)
	if _, err := NewSpaceRuntime(s, tab2); err == nil || !strings.Contains(err.Error(), "conv-input:28x28x1") {
		t.Errorf("missing key error = %v", err)
	}
}

// Folding a calibration into the runtime model must give, architecture by
// architecture, exactly what the calibrated predictor gives on the LUT sum:
// otherwise a search at a calibrated target would aim somewhere else than
// the number it reports.
func TestSpaceRuntimeCalibrate(t *testing.T) {
	s, _, tab, rt := macRuntime(t)
	tests := []struct {
		form string
		coef []float64
	}{
		{FormScale, []float64{1.25, -0.014}},
		{FormAffine, []float64{1.1, 0.004, 0.02}},
		{FormAffine, []float64{0.9, -0.001, 0.05}},
	}
	for _, tc := range tests {
		c, err := NewCalibrated(tab, tc.form)
		if err != nil {
			t.Fatal(err)
		}
		c.Coef = tc.coef
		cr, err := rt.Calibrate(c)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.form, tc.coef, err)
		}
		checked := 0
		for seed := uint64(0); seed < 200; seed++ {
			a := s.RandomSeed(seed)
			k3e3 := false
			for _, ch := range a.Choices {
				k3e3 = k3e3 || (!ch.Skip && ch.Kernel == 3 && ch.Expand == 3)
			}
			if k3e3 {
				continue
			}
			got, err := cr.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Millis-want.Millis) > 1e-9 {
				t.Errorf("%s %v %s: folded runtime %.9f ms, calibrated predictor %.9f ms", tc.form, tc.coef, a, got.Millis, want.Millis)
			}
			checked++
		}
		if checked < 10 {
			t.Fatalf("only %d architectures without k3e3 checked", checked)
		}
	}
	// The input model is left alone.
	if rt2, _ := NewSpaceRuntime(s, tab); rt2.Constant != rt.Constant || rt2.R[0] != rt.R[0] {
		t.Error("Calibrate changed its receiver")
	}
	bad := []struct {
		coef []float64
		want string
	}{
		{[]float64{-1, 0.01, 0.1}, "slope"},
		{[]float64{1, -1, 0.1}, "becomes"},
	}
	for _, b := range bad {
		c, _ := NewCalibrated(tab, FormAffine)
		c.Coef = b.coef
		if _, err := rt.Calibrate(c); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("coef %v: err %v, want it to mention %q", b.coef, err, b.want)
		}
	}
	unfitted, _ := NewCalibrated(tab, FormScale)
	if _, err := rt.Calibrate(unfitted); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Errorf("unfitted calibration: err %v", err)
	}
}
