package litert

import (
	"errors"
	"os"
	"testing"
)

// ForTest returns the located runtime for a test. Where node is not
// installed the test is skipped, saying so. Where node is there but the
// package is not, the test fails under CI (CI=true: `make test` installs it
// first, so a missing package is a broken harness) and is skipped elsewhere
// with the command that installs it.
func ForTest(tb testing.TB) *Runtime {
	tb.Helper()
	r, err := Find()
	switch {
	case err == nil:
		return r
	case errors.Is(err, ErrNoNode):
		tb.Skipf("LiteRT conformance needs node, which is not installed here (`make litert` installs it where apt can): %v", err)
	case os.Getenv("CI") != "":
		tb.Fatalf("LiteRT conformance under CI: %v", err)
	default:
		tb.Skipf("LiteRT conformance: %v", err)
	}
	return nil
}
