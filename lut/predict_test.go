package lut

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/profiler"
	"edgenas/space"
)

// syntheticTable gives every layer key of a space a latency derived from its
// MACs plus per-key jitter, so sums differ between architectures.
func syntheticTable(t *testing.T, sp *space.Space, rng *rand.Rand) *Table {
	t.Helper()
	ms := map[string]float64{}
	for _, l := range sp.UniqueKeys() {
		ms[l.Key()] = 0.02 + float64(l.MACs())/2e8*(0.8+0.4*rng.Float64())
	}
	tb, err := TableFromMillis("synth", "ref", 1, "test", ms)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestLUTPredictor(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	tb := syntheticTable(t, sp, rand.New(rand.NewPCG(3, 4)))
	p, err := NewLUTPredictor(tb)
	if err != nil {
		t.Fatal(err)
	}
	a := sp.RandomSeed(7)
	got, err := p.Predict(a)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	n := 0
	for _, l := range a.Layers() {
		if l.Kind != space.KindSkip {
			want += tb.Entries[l.Key()].Millis()
			n++
		}
	}
	if math.Abs(got.Millis-want) > 1e-12 || len(got.Terms) != n {
		t.Errorf("predicted %g ms from %d terms, want %g from %d", got.Millis, len(got.Terms), want, n)
	}
	// Remove one key the architecture uses: the error names it.
	gone := a.Layers()[0].Key()
	delete(tb.Entries, gone)
	if _, err := p.Predict(a); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("missing key: error %v, want it to name %s", err, gone)
	}
	if _, err := p.Predict(space.Arch{Space: sp}); err == nil {
		t.Error("architecture with no choices predicted")
	}
	if _, err := TableFromMillis("d", "b", 1, "s", map[string]float64{"k": -1}); err == nil {
		t.Error("negative latency accepted")
	}
}

func TestCalibratedRecoversCoefficients(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	rng := rand.New(rand.NewPCG(5, 6))
	tb := syntheticTable(t, sp, rng)
	base, _ := NewLUTPredictor(tb)
	gen := func(n int, noise float64, truth func(sum float64, layers int) float64) []Sample {
		var out []Sample
		for i := 0; i < n; i++ {
			a := sp.Random(rng)
			p, err := base.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Sample{Arch: a, Millis: truth(p.Millis, len(p.Terms)) + noise*rng.NormFloat64()})
		}
		return out
	}
	tests := []struct {
		name  string
		form  string
		noise float64
		n     int
		want  []float64
		tol   float64
	}{
		{"affine exact", FormAffine, 0, 12, []float64{1.25, 0.08, 0.9}, 1e-8},
		{"affine noisy", FormAffine, 0.005, 40, []float64{1.25, 0.08, 0.9}, 0.05},
		{"scale exact", FormScale, 0, 6, []float64{0.7, 2.5}, 1e-8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			truth := func(sum float64, layers int) float64 {
				if tc.form == FormScale {
					return tc.want[0]*sum + tc.want[1]
				}
				return tc.want[0]*sum + tc.want[1]*float64(layers) + tc.want[2]
			}
			samples := gen(tc.n, tc.noise, truth)
			c, err := NewCalibrated(tb, tc.form)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Fit(samples); err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if math.Abs(c.Coef[i]-w) > tc.tol*math.Max(1, math.Abs(w)) {
					t.Errorf("%s = %g, want %g (±%g)", c.Features[i], c.Coef[i], w, tc.tol)
				}
			}
			// Held-out prediction and a JSON round trip give the same numbers.
			a := sp.Random(rng)
			p1, err := c.Predict(a)
			if err != nil {
				t.Fatal(err)
			}
			lp, _ := base.Predict(a)
			if want := truth(lp.Millis, len(lp.Terms)); math.Abs(p1.Millis-want) > 3*tc.noise+1e-9 {
				t.Errorf("held-out: %g ms, want %g", p1.Millis, want)
			}
			var buf bytes.Buffer
			if err := c.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			c2, err := ReadCalibrated(bytes.NewReader(buf.Bytes()), tb)
			if err != nil {
				t.Fatal(err)
			}
			p2, _ := c2.Predict(a)
			if p2.Millis != p1.Millis || c2.RMSE != c.RMSE || c2.Samples != tc.n {
				t.Errorf("after JSON: %g ms (rmse %g, n %d), want %g (rmse %g, n %d)",
					p2.Millis, c2.RMSE, c2.Samples, p1.Millis, c.RMSE, tc.n)
			}
			other, _ := TableFromMillis("other", "ref", 1, "test", map[string]float64{"k": 1})
			if _, err := ReadCalibrated(bytes.NewReader(buf.Bytes()), other); err == nil {
				t.Error("calibration loaded onto another device's table")
			}
		})
	}
}

func TestCalibratedRejectsBadFits(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	tb := syntheticTable(t, sp, rand.New(rand.NewPCG(8, 9)))
	c, _ := NewCalibrated(tb, FormAffine)
	// No skips anywhere: every model has the same layer count, so the
	// per-layer term cannot be told from the constant.
	var same []Sample
	for _, tok := range []string{"k3e3", "k3e6", "k5e3", "k5e6", "k3e3+se", "k5e6+se"} {
		ch, _ := space.ParseChoice(tok)
		same = append(same, Sample{Arch: sp.Uniform(ch), Millis: 1 + float64(len(same))})
	}
	tests := []struct {
		name    string
		samples []Sample
		want    string
	}{
		{"collinear", same, "combination of the others"},
		{"too few", same[:3], "need more than 3"},
		{"bad latency", append(append([]Sample{}, same[:4]...), Sample{Arch: same[0].Arch, Millis: math.NaN()}), "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Fit(tc.samples); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := c.Predict(same[0].Arch); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Errorf("unfitted predict: %v", err)
	}
	if _, err := NewCalibrated(tb, "cubic"); err == nil {
		t.Error("unknown form accepted")
	}
}

func TestAggregateClass(t *testing.T) {
	mk := func(dev string, p50 float64, unstable bool) Entry {
		e := sampleEntry(dev, 0)
		e.Stats = profiler.Stats{Count: 30, Min: p50 - 1, P10: p50 - 0.5, P50: p50, P90: p50 + 0.5, Max: p50 + 1, Mean: p50}
		e.Unstable = unstable
		return e
	}
	tests := []struct {
		name     string
		entries  []Entry
		p50, min float64
		max, mad float64
		unstable bool
		want     string
	}{
		{"odd", []Entry{mk("a", 100, false), mk("b", 130, false), mk("c", 110, false)}, 110, 100, 130, 10, false, ""},
		{"even, one unstable", []Entry{mk("a", 100, false), mk("b", 120, true)}, 110, 100, 120, 10, true, ""},
		{"duplicate device", []Entry{mk("a", 100, false), mk("a", 120, false)}, 0, 0, 0, 0, false, "appears twice"},
		{"mixed keys", []Entry{mk("a", 100, false), func() Entry { e := mk("b", 1, false); e.Key = "other"; return e }()}, 0, 0, 0, 0, false, "does not match"},
		{"empty", nil, 0, 0, 0, 0, false, "no entries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AggregateClass("pixel", tc.entries)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := got.Stats
			if s.P50 != tc.p50 || s.Min != tc.min || s.Max != tc.max || s.MAD != tc.mad || s.Count != len(tc.entries) {
				t.Errorf("stats %+v, want p50 %g min %g max %g mad %g count %d", s, tc.p50, tc.min, tc.max, tc.mad, len(tc.entries))
			}
			if got.Unstable != tc.unstable || got.Device != "pixel" || !strings.HasPrefix(got.Source, "class:a,") {
				t.Errorf("entry %+v", got)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStoreClassView(t *testing.T) {
	s := openTemp(t)
	for _, d := range []Device{{ID: "p1", Class: "pixel"}, {ID: "p2", Class: "pixel"}, {ID: "p3", Class: "pixel"},
		{ID: "n1", Class: "note"}} {
		if err := s.PutDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	var batch []Entry
	for di, dev := range []string{"p1", "p2", "p3", "n1"} {
		for k := 0; k < 3-min(di, 2); k++ { // p1 has keys 0..2, p2 0..1, p3 and n1 key 0 only
			e := sampleEntry(dev, k)
			e.Stats.P50 += float64(10 * di)
			e.Stats.P90, e.Stats.Max = e.Stats.P50+3, e.Stats.P50+9
			batch = append(batch, e)
		}
	}
	if err := s.Put(batch...); err != nil {
		t.Fatal(err)
	}
	tb, short, err := s.ClassView("pixel", "xnnpack", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Len() != 2 || len(short) != 1 || short[0] != sampleEntry("", 2).Key {
		t.Fatalf("class table %d keys, short %v; want 2 keys and key 2 short", tb.Len(), short)
	}
	e, _ := tb.Lookup(sampleEntry("", 0).Key)
	if e.Stats.P50 != 110 || e.Stats.Count != 3 { // device medians 100, 110, 120
		t.Errorf("class entry of key 0: %+v, want median 110 over 3 devices", e.Stats)
	}
	if _, _, err := s.ClassView("tablet", "xnnpack", 1, 1); err == nil {
		t.Error("class with no devices gave a table")
	}
}
