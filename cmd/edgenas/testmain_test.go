package main

import (
	"context"
	"os"
	"testing"
)

// beCLI makes the test binary act as the edgenas binary when a test spawns
// it as a subprocess (the demo starts its broker and agent with
// os.Executable(), which under `go test` is this binary).
const beCLI = "EDGENAS_TEST_BE_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(beCLI) == "1" {
		ctx, stop := signalContext(context.Background())
		code := execute(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
