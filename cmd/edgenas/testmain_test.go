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

// cliReady names a file the spawned CLI writes once its signal handling is
// in place, so a test can signal it without racing process start-up.
const cliReady = "EDGENAS_TEST_READY_FILE"

func TestMain(m *testing.M) {
	if os.Getenv(beCLI) == "1" {
		ctx, stop := signalContext(context.Background())
		if f := os.Getenv(cliReady); f != "" {
			if err := os.WriteFile(f, []byte("ready"), 0o644); err != nil {
				os.Exit(3)
			}
		}
		code := execute(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
