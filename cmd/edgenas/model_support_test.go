package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

func sharedModel(t *testing.T, name string) string {
	t.Helper()
	dir, err := refdata.Find()
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	return filepath.Join(dir, name)
}

// TestInspectEveryRealModel checks `model inspect` lists every operator of
// every real model, runnable or not, and says per backend which it runs.
func TestInspectEveryRealModel(t *testing.T) {
	dir, err := refdata.Find()
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if len(files) < 6 {
		t.Fatalf("%d .tflite files in %s, want the 6 real models", len(files), dir)
	}
	refuses := map[string]string{ // file -> an operator both backends refuse
		"keyword_scrambled_8bit.tflite": "SVDF",
		"trained_lstm_int8.tflite":      "UNIDIRECTIONAL_SEQUENCE_LSTM",
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			m, err := tflite.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI(t, "model", "inspect", "--json", f)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var rep inspectReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Operators) != len(m.Operators) {
				t.Fatalf("%d operators listed, model has %d", len(rep.Operators), len(m.Operators))
			}
			for i, o := range rep.Operators {
				if o.Op != m.Operators[i].Op.String() || strings.HasPrefix(o.Op, "BUILTIN_") {
					t.Errorf("operator %d listed as %q", i, o.Op)
				}
			}
			if len(rep.Backends) == 0 {
				t.Fatal("no backend support listed")
			}
			for _, b := range rep.Backends {
				if b.Unavailable != "" {
					continue
				}
				if len(b.Ops) != len(m.Operators) {
					t.Errorf("%s: %d verdicts for %d operators", b.Backend, len(b.Ops), len(m.Operators))
				}
				op, refused := refuses[name]
				if !refused && b.Runs != len(m.Operators) {
					t.Errorf("%s runs %d of %d operators: %+v", b.Backend, b.Runs, len(m.Operators), b.Ops)
				}
				for _, v := range b.Ops {
					if refused && v.Op == op && v.OK {
						t.Errorf("%s claims to run %s", b.Backend, op)
					}
				}
			}
			code, text, _ := runCLI(t, "model", "inspect", f)
			if code != 0 || !strings.Contains(text, "backend ref: runs") {
				t.Errorf("text output lacks the backend lines:\n%s", text)
			}
			if op, ok := refuses[name]; ok && !strings.Contains(text, "cannot run: ") || ok && !strings.Contains(text, op+" (operator") {
				t.Errorf("text output does not name %s as refused:\n%s", op, text)
			}
		})
	}
}

// TestRunAndBenchNameUnsupportedOperators checks `run` and `bench` fail on
// a model edgenas cannot run with an error naming its operator.
func TestRunAndBenchNameUnsupportedOperators(t *testing.T) {
	kws := sharedModel(t, "keyword_scrambled_8bit.tflite")
	lstm := sharedModel(t, "trained_lstm_int8.tflite")
	tests := []struct {
		name    string
		backend string
		args    []string
		want    string
	}{
		{"run ref", "ref", []string{"run", "--backend", "ref", kws}, "SVDF (operators 1, 3"},
		{"run xnnpack", "xnnpack", []string{"run", "--backend", "xnnpack", lstm}, "UNIDIRECTIONAL_SEQUENCE_LSTM (operator 0"},
		{"bench ref", "ref", []string{"bench", "--backend", "ref", "--runs", "1", lstm}, "UNIDIRECTIONAL_SEQUENCE_LSTM (operator 0"},
		{"bench xnnpack", "xnnpack", []string{"bench", "--backend", "xnnpack", "--runs", "1", kws}, "SVDF (operators 1, 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Contains(backends.Available(), tc.backend) {
				t.Skipf("%s not in this build", tc.backend)
			}
			code, _, errs := runCLI(t, tc.args...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q, want an error containing %q", code, errs, tc.want)
			}
		})
	}
}
