package lut

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/space"
)

// spnasConstant is the runtime of stem, head and the fixed layers 0 and 21 of
// the published Pixel 1 table (Single-Path NAS's own number).
const spnasConstant = 19.5999

func pixel1(t *testing.T) *SPNASTable {
	t.Helper()
	tb, err := ReadSPNAS(openRef(t, "spnas_pixel1_runtime_model.json"), spnasConstant)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestSPNASPublishedFigures(t *testing.T) {
	tb := pixel1(t)
	if len(tb.R) != 20 {
		t.Fatalf("%d searchable layers, want 20", len(tb.R))
	}
	sp := space.MustLookup("spnas-imagenet")
	tests := []struct {
		tok           string
		formula, real float64
	}{
		{"k5e6", 131.46, 131.46},
		{"k3e6", 110.65, 110.65},
		{"k5e3", 76.36, 76.36},
		{"k3e3", 65.64, 65.69},
	}
	for _, tc := range tests {
		t.Run(tc.tok, func(t *testing.T) {
			c, _ := space.ParseChoice(tc.tok)
			a := sp.Uniform(c)
			got, err := SPNASPredictor{Table: tb}.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Millis-tc.formula) > 0.01 {
				t.Errorf("formula: %.4f ms, want %.2f", got.Millis, tc.formula)
			}
			exact, err := SPNASPredictor{Table: tb, Exact: true}.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(exact.Millis-tc.real) > 0.01 {
				t.Errorf("table: %.4f ms, want %.2f", exact.Millis, tc.real)
			}
			var sum float64
			for _, term := range got.Terms {
				sum += term.Millis
			}
			if len(got.Terms) != 21 || math.Abs(sum-got.Millis) > 1e-9 {
				t.Errorf("%d terms summing to %g, want 21 summing to %g", len(got.Terms), sum, got.Millis)
			}
		})
	}
	// A skip costs nothing: skipping layer 2 (searchable index 1) removes its k5e6 time.
	a := sp.Uniform(space.Choice{Kernel: 5, Expand: 6})
	a.Choices[1] = space.Choice{Skip: true}
	got, _ := SPNASPredictor{Table: tb}.Predict(a)
	if want := 131.46 - tb.R[1][OpK5E6]; math.Abs(got.Millis-want) > 0.01 {
		t.Errorf("with a skip: %.3f, want %.3f", got.Millis, want)
	}
}

func TestSPNASGradientMatchesFiniteDifferences(t *testing.T) {
	tb := pixel1(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ds := make([]Indicators, len(tb.R))
	for i := range ds {
		ds[i] = Indicators{D5: rng.Float64(), D50: rng.Float64(), D100: rng.Float64()}
	}
	g, err := tb.Gradient(ds)
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	fields := []struct {
		name string
		get  func(*Indicators) *float64
	}{
		{"d5", func(d *Indicators) *float64 { return &d.D5 }},
		{"d50", func(d *Indicators) *float64 { return &d.D50 }},
		{"d100", func(d *Indicators) *float64 { return &d.D100 }},
	}
	for i := range ds {
		for _, f := range fields {
			orig := *f.get(&ds[i])
			*f.get(&ds[i]) = orig + h
			up, _ := tb.Runtime(ds)
			*f.get(&ds[i]) = orig - h
			down, _ := tb.Runtime(ds)
			*f.get(&ds[i]) = orig
			fd := (up - down) / (2 * h)
			if an := *f.get(&g[i]); math.Abs(an-fd) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("layer %d %s: analytic %g, finite difference %g", i, f.name, an, fd)
			}
		}
	}
}

func TestSPNASRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"gap", `{"0":{"0":1,"1":1,"2":1,"3":1},"1":{"0":1,"1":1,"2":1,"3":1},"3":{"0":1,"1":1,"2":1,"3":1}}`, "layer 2 missing"},
		{"three options", `{"0":{"0":1,"1":1,"2":1,"3":1},"1":{"0":1,"1":1,"2":1},"2":{"0":1,"1":1,"2":1,"3":1}}`, "3 options"},
		{"negative", `{"0":{"0":1,"1":1,"2":1,"3":1},"1":{"0":1,"1":-1,"2":1,"3":1},"2":{"0":1,"1":1,"2":1,"3":1}}`, "option 1"},
		{"too few", `{"0":{"0":1,"1":1,"2":1,"3":1}}`, "1 layers"},
		{"not json", `[1,2]`, "read spnas table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSPNAS(strings.NewReader(tc.json), 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	tb := pixel1(t)
	// An architecture of another space, and an SE choice, are clear errors.
	fm := space.MustLookup("spnas-fmnist").Uniform(space.Choice{Kernel: 3, Expand: 3})
	if _, err := (SPNASPredictor{Table: tb}).Predict(fm); err == nil || !strings.Contains(err.Error(), "20 searchable layers, got 12") {
		t.Errorf("fmnist arch: %v", err)
	}
	se := space.MustLookup("spnas-imagenet").Uniform(space.Choice{Kernel: 3, Expand: 3, SE: true})
	if _, err := (SPNASPredictor{Table: tb}).Predict(se); err == nil || !strings.Contains(err.Error(), "no SE option") {
		t.Errorf("SE arch: %v", err)
	}
}
