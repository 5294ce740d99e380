package foxnas

import (
	"math"
	"testing"

	"edgenas/internal/refdata"
)

// TestFoxReproduction fits the published FOX-NAS designs (latency.r,
// accuracy.r) on the published data and checks that the fit reaches the
// published quality. Cross-validated R2 depends on the fold assignment
// (accuracy: about 0.919-0.933 over seeds), so the CV bound is checked on
// the mean over ten seeded assignments, with a looser bound on each.
func TestFoxReproduction(t *testing.T) {
	tab, err := LoadCSV(refdata.Path(t, "foxnas_model_data_CPU_256.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 300 {
		t.Fatalf("rows = %d, want 300", tab.Len())
	}
	tests := []struct {
		set       FeatureSet
		terms     int
		minR2     float64 // in-sample
		maxRMSE   float64 // in-sample
		minCVMean float64
		minCVEach float64
		maxCVRMSE float64
	}{
		{FoxLatencySet(), 35, 0.985, 2.8, 0.98, 0.98, 3.3},
		{FoxAccuracySet(), 40, 0.94, 0.25, 0.92, 0.91, 0.30},
	}
	for _, tc := range tests {
		t.Run(tc.set.Name, func(t *testing.T) {
			if len(tc.set.Terms) != tc.terms {
				t.Fatalf("%d terms, want %d", len(tc.set.Terms), tc.terms)
			}
			var sumR2, sumRMSE float64
			lo, hi := math.Inf(1), math.Inf(-1)
			const seeds = 10
			for seed := uint64(0); seed < seeds; seed++ {
				res, err := FitModel(tc.set, tab, FitOptions{Folds: 5, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				m := res.Model
				if seed == 0 {
					t.Logf("%s: n=%d p=%d R2=%.4f adjR2=%.4f RMSE=%.3f residual SE=%.3f",
						tc.set.Name, m.N, m.Params, m.R2, m.AdjR2, m.RMSE, m.ResidualSE)
					if m.Params != tc.terms+1 || len(m.Dropped) != 0 {
						t.Errorf("params %d dropped %v, want %d and none", m.Params, m.Dropped, tc.terms+1)
					}
					if m.R2 < tc.minR2 || m.RMSE > tc.maxRMSE {
						t.Errorf("in-sample R2 %.4f RMSE %.3f, want R2 >= %.3f and RMSE <= %.2f", m.R2, m.RMSE, tc.minR2, tc.maxRMSE)
					}
				}
				if m.CV.R2 < tc.minCVEach || m.CV.RMSE > tc.maxCVRMSE {
					t.Errorf("seed %d: 5-fold CV R2 %.4f RMSE %.3f, want R2 >= %.2f and RMSE <= %.2f",
						seed, m.CV.R2, m.CV.RMSE, tc.minCVEach, tc.maxCVRMSE)
				}
				sumR2 += m.CV.R2
				sumRMSE += m.CV.RMSE
				lo, hi = math.Min(lo, m.CV.R2), math.Max(hi, m.CV.R2)
			}
			mean := sumR2 / seeds
			t.Logf("%s: 5-fold CV over %d seeds: R2 mean %.4f (%.4f..%.4f), RMSE mean %.3f", tc.set.Name, seeds, mean, lo, hi, sumRMSE/seeds)
			if mean < tc.minCVMean {
				t.Errorf("mean 5-fold CV R2 %.4f < %.2f", mean, tc.minCVMean)
			}
		})
	}
}
