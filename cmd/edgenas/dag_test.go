package main

import (
	"encoding/json"
	"strings"
	"testing"
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
