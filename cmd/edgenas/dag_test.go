package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/tflite"
)

func TestDAGSpaceArch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{name: "table", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "0-1,0-2,1-3"}, code: 0,
			inStdout: "sepconv-input:28x28x16-output:28x28x16-kernel:3-stride:1-act:none"},
		{name: "bad edge", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "0-9"}, code: 2,
			inStderr: "want 0 <= FROM < TO < 8"},
		{name: "nothing live", args: []string{"space", "arch", "--space", "autoshrink-fmnist", "3-4"}, code: 2,
			inStderr: "no edge reachable from node 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
				t.Errorf("code %d stdout %q stderr %q", code, trunc(out), errs)
			}
		})
	}
	code, out, errs := runCLI(t, "space", "arch", "--json", "--space", "autoshrink-fmnist", "full")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var got struct {
		Arch  string `json:"arch"`
		Edges int    `json:"edges"`
		MACs  int64  `json:"macs"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Edges != 28 || strings.Count(got.Arch, ",") != 27 || got.MACs <= 0 {
		t.Errorf("full DAG: %+v", got)
	}
}

func TestDAGModelGen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.tflite")
	code, stdout, errs := runCLI(t, "model", "gen", "--json", "--space", "autoshrink-fmnist", "--arch", "0-1,0-2,1-3,2-3", "-o", out)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var got struct {
		Arch      string `json:"arch"`
		Operators int    `json:"operators"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	m, err := tflite.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != "0-1,0-2,1-3,2-3" || got.Operators != len(m.Operators) || !strings.Contains(m.Description, "autoshrink-fmnist") {
		t.Errorf("wrote %+v, model has %d operators, description %q", got, len(m.Operators), m.Description)
	}
	if code, _, errs := runCLI(t, "model", "gen", "--space", "autoshrink-fmnist", "--arch", "2-3", "-o", out); code != 2 || !strings.Contains(errs, "no edge reachable") {
		t.Errorf("dead topology: code %d, stderr %q", code, errs)
	}
}
