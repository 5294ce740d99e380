package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/fleet"
	"edgenas/lut"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata from the current output")

// TestReportMarkdownGolden pins the text of report.md for fixed reports: the
// demo's output must not change when the code that renders it does.
func TestReportMarkdownGolden(t *testing.T) {
	check := []lut.Accuracy{{Predictor: "lut", N: 4, RMSE: 0.0123, RMSPE: 3.21, MeanError: -1.5, Within5: 0.75, Within10: 1, Within15: 1, KendallTau: 0.667}}
	full := demoReport{
		Started: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), Seconds: 1234.5,
		Failed: "deploy", EvalImages: 2000, Agents: []string{"demo-1", "demo-2"}, Class: "local",
		CalibratedOn: "class local (devices [demo-1 demo-2])", ValidatedOn: "class local (devices [demo-1 demo-2])",
		Calibration: &lut.Calibrated{Form: lut.FormAffine, Features: []string{"lutsum_ms", "layers", "const"},
			Coef: []float64{1.25, 0.0812345, -0.9}, Samples: 12, RMSE: 0.01234},
		CalibCheck: check, SpaceLoMS: 0.8, SpaceHiMS: 2.4,
		Search:        demoSearch{Arch: "k3e3 k5e6+se skip", TableMS: 1.63, FormulaMS: 1.61, TargetMS: 1.6, Within: true, Lambda: 0.0125, Steps: 400},
		SearchSeconds: 321.4,
		Train:         demoTrain{ValAcc: 0.9012, TestAcc: 0.8934, Seconds: 88.2},
		Quant: demoQuant{FloatAcc: 0.8931, Int8Acc: map[string]float64{"xnnpack": 0.8921, "ref": 0.8915},
			GapPP: map[string]float64{"xnnpack": -0.1, "ref": -0.16}, RefImages: 500},
		LocalMS: 1.71, LocalCV: 0.034, AgentState: map[string]string{"demo-1": "committed", "demo-2": "committed"},
		AgentMS: map[string]float64{"demo-1": 1.74, "demo-2": 1.78},
		FleetBench: &fleet.BenchReport{Class: "local", Devices: []string{"demo-1", "demo-2"}, Models: []fleet.ModelTiming{{Name: "model.tflite",
			ClassMs: 1.75, Devices: []fleet.DeviceTiming{{Device: "demo-1", Millis: 1.73, CIRel: 0.01}, {Device: "demo-2", Millis: 1.77, CIRel: 0.012}}}}},
		Validate:  append(check, lut.Accuracy{Predictor: "calibrated", N: 20, RMSE: 0.05, RMSPE: 2.5, MeanError: 0.3, Within5: 0.9, Within10: 1, Within15: 1, KendallTau: 0.9}),
		Steps:     []demoStep{{Name: "lut", Seconds: 120.04}, {Name: "search", Seconds: 321.46}},
		Dashboard: []string{"edgenas broker --tls-listen 127.0.0.1:8883 &", "edgenas serve --state OUT/rollouts --lut OUT/lut.db --runs OUT"},
	}
	bare := demoReport{
		Started: time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC), Seconds: 59.6, Agents: []string{"a1"}, Class: "c",
		Search: demoSearch{Arch: "k3e3", TableMS: 1.2, FormulaMS: 1.25, Steps: 10},
		Train:  demoTrain{ValAcc: 0.8, TestAcc: 0.79, Seconds: 3},
		Quant:  demoQuant{Int8Acc: map[string]float64{"ref": 0.78}, GapPP: map[string]float64{"ref": -1}},
	}
	tests := []struct {
		name   string
		report demoReport
		files  []string // written under the output directory, so rel finds them
	}{
		{name: "full", report: full, files: []string{"search/progress.png", "validate/scatter.png", "lut.db", "model.tflite", "keys/host.pub", "train/x", "logs/x"}},
		{name: "bare", report: bare, files: []string{"report.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			for _, f := range tc.files {
				p := filepath.Join(out, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			if err := tc.report.markdown(&buf, out); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(buf.String(), out, "OUT")
			golden := filepath.Join("testdata", "report-"+tc.name+".md")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("report.md differs from %s:\n%s", golden, got)
			}
		})
	}
}
