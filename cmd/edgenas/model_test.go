package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

// TestModelInspectDelegates runs `model inspect --delegates` in text and JSON
// on person_detect and on a model `model gen` writes.
func TestModelInspectDelegates(t *testing.T) {
	gen := filepath.Join(t.TempDir(), "se.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", gen); code != 0 {
		t.Fatalf("model gen: %d %s", code, errs)
	}
	cases := []struct {
		name      string
		path      string
		wantTaken map[string]int
	}{
		{name: "person_detect", path: refdata.Path(t, "person_detect.tflite"),
			wantTaken: map[string]int{"XNNPACK": 29, "NNAPI": 31, "GPU": 31, "Hexagon": 31}},
		{name: "generated with SE", path: gen,
			wantTaken: map[string]int{"XNNPACK": 79, "NNAPI": 79, "GPU": 79, "Hexagon": 79}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "model", "inspect", "--delegates", "--json", tc.path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var v struct {
				Model struct {
					Operators []json.RawMessage `json:"operators"`
				} `json:"model"`
				Delegates []struct {
					Delegate string `json:"delegate"`
					Taken    int    `json:"taken"`
				} `json:"delegates"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			if len(v.Delegates) != len(tc.wantTaken) || len(v.Model.Operators) == 0 {
				t.Fatalf("%d delegates, %d operators", len(v.Delegates), len(v.Model.Operators))
			}
			for _, d := range v.Delegates {
				if d.Taken != tc.wantTaken[d.Delegate] {
					t.Errorf("%s takes %d operators, want %d", d.Delegate, d.Taken, tc.wantTaken[d.Delegate])
				}
			}
			code, out, errs = runCLI(t, "model", "inspect", "--delegates", tc.path)
			if code != 0 || !strings.Contains(out, "Hexagon: takes") {
				t.Errorf("text: exit %d, %s\n%s", code, errs, out)
			}
		})
	}
	if code, _, errs := runCLI(t, "model", "inspect", "--delegates", "--android-api", "20", gen); code == 0 || !strings.Contains(errs, "API 27") {
		t.Errorf("--android-api 20: exit %d, %s", code, errs)
	}
}
