package foxnas

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestOLSSimpleRegression checks against the hand-computed closed form of
// simple regression on x = 0..3, y = 1,3,2,5: b1 = Sxy/Sxx = 5.5/5 = 1.1,
// b0 = 2.75 - 1.1*1.5 = 1.1, SSE = 2.7, s^2 = 1.35, se(b1) = sqrt(1.35/5),
// se(b0) = sqrt(1.35*(1/4 + 1.5^2/5)), R2 = 1 - 2.7/8.75, and with 2 degrees
// of freedom the two-sided p of t is 1 - t/sqrt(t^2+2).
func TestOLSSimpleRegression(t *testing.T) {
	x := [][]float64{{0}, {1}, {2}, {3}}
	y := []float64{1, 3, 2, 5}
	f, err := OLS(x, y, []string{"x"}, OLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t1 := 1.1 / math.Sqrt(0.27)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"b0", f.Coefs[0].Estimate, 1.1},
		{"b1", f.Coefs[1].Estimate, 1.1},
		{"se b0", f.Coefs[0].StdErr, math.Sqrt(0.945)},
		{"se b1", f.Coefs[1].StdErr, math.Sqrt(0.27)},
		{"t b1", f.Coefs[1].T, t1},
		{"p b1", f.Coefs[1].P, 1 - t1/math.Sqrt(t1*t1+2)},
		{"R2", f.R2, 1 - 2.7/8.75},
		{"adj R2", f.AdjR2, 1 - (2.7/8.75)*3/2},
		{"RMSE", f.RMSE, math.Sqrt(2.7 / 4)},
		{"residual SE", f.ResidualSE, math.Sqrt(1.35)},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want, 1e-9) {
			t.Errorf("%s = %.12g, want %.12g", tc.name, tc.got, tc.want)
		}
	}
	if f.Coefs[0].Name != InterceptName || f.Coefs[1].Name != "x" || f.N != 4 || f.Params != 2 {
		t.Errorf("fit header %+v", f)
	}
	if p, _ := f.Predict([]float64{10}); !near(p, 12.1, 1e-9) {
		t.Errorf("predict(10) = %v, want 12.1", p)
	}
}

// TestOLSExactRecovery: noise-free data from known coefficients is fitted exactly.
func TestOLSExactRecovery(t *testing.T) {
	var x [][]float64
	var y []float64
	for a := 0.0; a < 4; a++ {
		for b := 0.0; b < 3; b++ {
			x = append(x, []float64{a, b, a * b})
			y = append(y, 3+2*a-b+0.5*a*b)
		}
	}
	f, err := OLS(x, y, []string{"a", "b", "ab"}, OLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{3, 2, -1, 0.5} {
		if !near(f.Coefs[i].Estimate, want, 1e-9) || f.Coefs[i].StdErr > 1e-9 {
			t.Errorf("coef %s = %v +- %v, want %v +- 0", f.Coefs[i].Name, f.Coefs[i].Estimate, f.Coefs[i].StdErr, want)
		}
	}
	if !near(f.R2, 1, 1e-12) {
		t.Errorf("R2 = %v, want 1", f.R2)
	}
}

func TestOLSRankDeficiency(t *testing.T) {
	var x [][]float64
	var y []float64
	for i := 0; i < 10; i++ {
		a, b := float64(i%4), float64(i*i%7)
		x = append(x, []float64{a, b, a + 2*b, 5, 0})
		y = append(y, 1+a+0.1*float64(i%3))
	}
	names := []string{"a", "b", "c", "five", "zero"}
	_, err := OLS(x, y, names, OLSOptions{})
	var re *RankError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RankError", err)
	}
	msg := err.Error()
	for _, want := range []string{"c = linear combination of a, b", "five = linear combination of (intercept)", "zero is constant zero"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	f, err := OLS(x, y, names, OLSOptions{DropCollinear: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Dropped) != 3 || f.Params != 3 || !f.Coefs[3].Dropped || f.Coefs[1].Dropped {
		t.Errorf("dropped %v params %d coefs %+v", f.Dropped, f.Params, f.Coefs)
	}
}

func TestOLSBadInput(t *testing.T) {
	tests := []struct {
		name string
		x    [][]float64
		y    []float64
		want string
	}{
		{"row count", [][]float64{{1}, {2}}, []float64{1}, "2 rows of features but 1 responses"},
		{"ragged", [][]float64{{1}, {2, 3}, {4}}, []float64{1, 2, 3}, "row 1 has 2 features, want 1"},
		{"nan", [][]float64{{1}, {math.NaN()}, {4}}, []float64{1, 2, 3}, "row 1 feature x is NaN"},
		{"too few", [][]float64{{1}, {2}}, []float64{1, 2}, "2 observations for 2 coefficients"},
	}
	for _, tc := range tests {
		_, err := OLS(tc.x, tc.y, []string{"x"}, OLSOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCrossValidate(t *testing.T) {
	var x [][]float64
	var y, noisy []float64
	for i := 0; i < 40; i++ {
		a := float64(i % 7)
		x = append(x, []float64{a})
		y = append(y, 2+3*a)
		noisy = append(noisy, 2+3*a+float64((i*37)%11)/10-0.5)
	}
	cv, err := CrossValidate(x, y, []string{"a"}, OLSOptions{}, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cv.RMSE > 1e-9 || !near(cv.R2, 1, 1e-12) {
		t.Errorf("noise-free CV: RMSE %v R2 %v, want 0 and 1", cv.RMSE, cv.R2)
	}
	a, _ := CrossValidate(x, noisy, []string{"a"}, OLSOptions{}, 5, 7)
	b, _ := CrossValidate(x, noisy, []string{"a"}, OLSOptions{}, 5, 7)
	c, _ := CrossValidate(x, noisy, []string{"a"}, OLSOptions{}, 5, 8)
	if a.RMSE != b.RMSE || a.R2 != b.R2 {
		t.Errorf("same seed, different CV: %v vs %v", a, b)
	}
	if a.RMSE == c.RMSE {
		t.Errorf("seeds 7 and 8 gave identical CV RMSE %v: fold assignment ignores the seed", a.RMSE)
	}
	in, _ := OLS(x, noisy, []string{"a"}, OLSOptions{})
	if a.RMSE <= in.RMSE {
		t.Errorf("CV RMSE %v <= in-sample %v: out-of-fold error should be larger", a.RMSE, in.RMSE)
	}
	for _, folds := range []int{1, 41} {
		if _, err := CrossValidate(x, y, []string{"a"}, OLSOptions{}, folds, 1); err == nil {
			t.Errorf("%d folds: no error", folds)
		}
	}
}

func TestMeaning(t *testing.T) {
	tests := []struct {
		est       float64
		unit, per string
		want      string
	}{
		{0.4, "pp", "extra block in stage 2 (40 ch)", "+0.4 pp per extra block in stage 2 (40 ch)"},
		{-0.123456, "ms", "unit of mean expansion", "-0.123 ms per unit of mean expansion"},
		{61.878882, "pp", "", "61.88 pp baseline"},
	}
	for _, tc := range tests {
		if got := Meaning(tc.est, tc.unit, tc.per); got != tc.want {
			t.Errorf("Meaning(%v) = %q, want %q", tc.est, got, tc.want)
		}
	}
}
