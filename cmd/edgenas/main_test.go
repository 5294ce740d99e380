package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"--help"}, 0, "Commands:", ""},
		{[]string{}, 2, "Commands:", "needs a subcommand"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"space", "arch", "--help"}, 0, "Example:", ""},
		{[]string{"help", "bench"}, 0, "Example:", ""},
		{[]string{"bench", "--runs", "x", "m.tflite"}, 2, "", `invalid value "x" for flag -runs`},
		{[]string{"space", "arch", "--space", "nope", "random"}, 2, "", `unknown search space "nope"`},
		{[]string{"space", "arch", "--space", "spnas-fmnist", "k5e6,k9e9"}, 2, "", "needs 12 comma-separated tokens"},
		{[]string{"model", "gen", "--space", "spnas-fmnist"}, 2, "", "needs -o"},
		{[]string{"run", "--backend", "tpu", "x.tflite"}, 2, "", `unknown backend "tpu"`},
		{[]string{"model", "inspect", "/nonexistent.tflite"}, 1, "", "nonexistent.tflite"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
			t.Errorf("edgenas %v: code %d, stdout %q, stderr %q; want code %d, stdout containing %q, stderr containing %q",
				tc.args, code, trunc(out), errs, tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Every leaf command has help with an example.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		path = append(path, c.name)
		if len(c.subs) == 0 {
			code, out, _ := runCLI(t, append(path[1:], "--help")...)
			if code != 0 || !strings.Contains(out, "Example:") || !strings.Contains(out, "Usage:") {
				t.Errorf("%v --help: code %d, output %q", path, code, trunc(out))
			}
		}
		for _, s := range c.subs {
			walk(s, path)
		}
	}
	walk(&command{name: "edgenas", subs: commands()}, nil)
}

func TestSpaceCommandsJSON(t *testing.T) {
	code, out, errs := runCLI(t, "space", "arch", "--space", "spnas-imagenet", "--seed", "4", "random", "--json")
	if code != 0 {
		t.Fatalf("space arch: %d %s", code, errs)
	}
	var v struct {
		Arch   string `json:"arch"`
		MACs   int64  `json:"macs"`
		Layers []struct {
			Key string `json:"key"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(strings.Split(v.Arch, ",")) != 20 || v.MACs <= 0 || len(v.Layers) != 26 {
		t.Errorf("unexpected arch JSON: %+v", v)
	}
	code, out, _ = runCLI(t, "space", "sample", "--space", "spnas-fmnist", "--seed", "9", "--count", "3")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
		t.Errorf("space sample: code %d out %q", code, out)
	}
}
