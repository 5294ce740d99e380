// Package refdata finds the project's shared reference data (real published
// .tflite models, LUTs and predictor data in ../shared/data beside the
// repository) for tests and benchmarks.
package refdata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvVar overrides where the shared data directory is.
const EnvVar = "EDGENAS_SHARED_DATA"

// Find returns the shared data directory: $EDGENAS_SHARED_DATA, or
// ../shared/data next to the repository root (the directory holding go.mod).
func Find() (string, error) {
	if d := os.Getenv(EnvVar); d != "" {
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("shared data from $%s: %w", EnvVar, err)
		}
		return d, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("find shared data: %w", err)
	}
	d := filepath.Join(root, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		return "", fmt.Errorf("shared data not at %s (set $%s): %w", d, EnvVar, err)
	}
	return d, nil
}

// ModuleRoot is the repository root: the nearest directory above the
// working directory (a test's package directory) that holds go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of a shared data file for a test. Where the data is
// missing the test fails under CI (CI=true) and is skipped elsewhere, so a
// CI run can never pass without having checked against the real files.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	d, err := Find()
	if err == nil {
		p := filepath.Join(d, name)
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("reference data %s: %v", name, err)
	}
	tb.Skipf("reference data %s not available: %v", name, err)
	return ""
}
