package main

import (
	"fmt"
	"os"

	"edgenas/profiler/benchmodel"
)

// benchImport turns a saved benchmark_model output into a bench result.
func benchImport(e *env, file string, args []string, asJSON bool) error {
	if len(args) != 0 {
		return usagef("bench --import takes no model argument, got %q", args)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("bench --import: %w", err)
	}
	defer f.Close()
	in, err := benchmodel.ImportTranscript(f)
	if err != nil {
		return fmt.Errorf("bench --import %s: %w", file, err)
	}
	if asJSON {
		return writeJSON(e.stdout, in)
	}
	return in.WriteText(e.stdout)
}
