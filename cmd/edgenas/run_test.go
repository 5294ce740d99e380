package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCommand runs a generated model on the ref backend from a seed and
// from an input file, and checks the two ways agree on the same bytes.
func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	mpath := filepath.Join(dir, "m.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", mpath); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	seeded := filepath.Join(dir, "seeded.bin")
	code, out, errs := runCLI(t, "run", "--backend", "ref", "--seed", "7", "--output", seeded, "--json", mpath)
	if code != 0 {
		t.Fatalf("run --seed: %d %s", code, errs)
	}
	var outs []runOutput
	if err := json.Unmarshal([]byte(out), &outs); err != nil || len(outs) != 1 {
		t.Fatalf("run --json: %v %q", err, out)
	}
	o := outs[0]
	if len(o.Values) != 10 || len(o.Top) != 5 || len(o.Real) != len(o.Values) {
		t.Fatalf("output %+v: want 10 values, their top 5 and their dequantized values", o)
	}
	raw, err := os.ReadFile(seeded)
	if err != nil || len(raw) != len(o.Values) {
		t.Fatalf("--output: %v, %d bytes for %d int8 values", err, len(raw), len(o.Values))
	}

	tests := []struct {
		name  string
		input []byte
		code  int
		want  string
	}{
		{name: "wrong size", input: []byte{1, 2, 3}, code: 1, want: "has 3 bytes"},
		{name: "zeros", input: make([]byte, 28*28), code: 0, want: "top-5 indices"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.bin")
			if err := os.WriteFile(in, tc.input, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI(t, "run", "--backend", "ref", "--input", in, mpath)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
}
