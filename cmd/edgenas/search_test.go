package main

import (
	"strings"
	"testing"
)

func TestSearchAndTrainUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"search", "spnas", "--help"}, 0, "Example:", ""},
		{[]string{"search", "random", "--help"}, 0, "Example:", ""},
		{[]string{"train", "--help"}, 0, "Example:", ""},
		{[]string{"search", "spnas", "--target-ms", "1"}, 2, "", "needs --out"},
		{[]string{"search", "spnas", "--out", "x"}, 2, "", "needs --target-ms"},
		{[]string{"search", "random", "--count", "0", "--target-ms", "1"}, 2, "", "--count > 0"},
		{[]string{"search", "random", "--target-ms", "1", "--lut", "/nonexistent.db"}, 1, "", "nonexistent.db"},
		{[]string{"train", "--out", "x"}, 2, "", "needs --arch"},
		{[]string{"train", "--arch", "k5e6", "--out", "x"}, 2, "", "needs 12 comma-separated tokens"},
		{[]string{"train", "--arch", "@/nonexistent.txt", "--out", "x"}, 1, "", "nonexistent.txt"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				tc.args, code, out, errs, tc.code, tc.inStdout, tc.inStderr)
		}
	}
}
