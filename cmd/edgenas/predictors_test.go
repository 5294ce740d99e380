package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

func TestPredictorsCLI(t *testing.T) {
	data := refdata.Path(t, "foxnas_model_data_CPU_256.csv")
	dir := t.TempDir()
	model := filepath.Join(dir, "fox.json")
	plot := filepath.Join(dir, "fit.png")
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("acc,tot_24\n72.8,2\n"), 0o644)

	tests := []struct {
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{[]string{"predictors", "fit", "--help"}, 0, []string{"Example:", "--csv"}, ""},
		{[]string{"predictors", "fit"}, 2, nil, "needs --csv FILE"},
		{[]string{"predictors", "fit", "--csv", data, "--target", "speed"}, 2, nil, `--target "speed"`},
		{[]string{"predictors", "fit", "--csv", data, "--folds", "1"}, 2, nil, "--folds 1"},
		{[]string{"predictors", "fit", "--csv", data, "--plot", "x.jpg"}, 2, nil, "extension must be .png or .svg"},
		{[]string{"predictors", "fit", "--csv", bad, "--target", "latency"}, 1, nil, `no column "latency"`},
		{[]string{"predictors", "fit", "--csv", data, "--target", "both", "-o", model, "--plot", plot}, 0,
			[]string{"foxnas-latency: latency (ms) from 35 terms", "foxnas-accuracy: accuracy (pp) from 40 terms",
				"5-fold CV (seed 1): R² 0.98", "ms per extra block in stage 1 (24 ch)", "pp per unit of total expansion x depth"}, "saved 2 predictor(s)"},
		{[]string{"predictors", "show", model}, 0, []string{"foxnas-latency", "R² 0.99", "tot_e_16_24"}, ""},
		{[]string{"predictors", "show"}, 2, nil, "takes one saved predictors file"},
		{[]string{"predictors", "show", bad}, 1, nil, "not a predictors file"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		ok := code == tc.code && strings.Contains(errs, tc.stderr)
		for _, s := range tc.stdout {
			ok = ok && strings.Contains(out, s)
		}
		if !ok {
			t.Errorf("edgenas %v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				tc.args, code, trunc(out), errs, tc.code, tc.stdout, tc.stderr)
		}
	}
	for _, p := range []string{"fit-latency.png", "fit-accuracy.png"} {
		if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.Size() < 1000 {
			t.Errorf("plot %s: %v", p, err)
		}
	}

	code, out, errs := runCLI(t, "predictors", "fit", "--csv", data, "--target", "accuracy", "--folds", "5", "--seed", "4", "--json")
	if code != 0 {
		t.Fatalf("fit --json: code %d, %s", code, errs)
	}
	var models []struct {
		FeatureSet struct{ Name string } `json:"feature_set"`
		R2         float64               `json:"r2"`
		CV         struct {
			Folds int
			Seed  uint64
			R2    float64
		} `json:"cv"`
		Coefficients []struct {
			Name    string
			StdErr  float64 `json:"std_err"`
			Meaning string
		} `json:"coefficients"`
	}
	if err := json.Unmarshal([]byte(out), &models); err != nil {
		t.Fatalf("fit --json output: %v", err)
	}
	if len(models) != 1 || models[0].FeatureSet.Name != "foxnas-accuracy" || len(models[0].Coefficients) != 41 ||
		models[0].CV.Folds != 5 || models[0].CV.Seed != 4 || models[0].CV.R2 < 0.9 || models[0].R2 < 0.94 {
		t.Errorf("fit --json: %+v", models)
	}
}
