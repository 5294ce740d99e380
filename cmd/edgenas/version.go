package main

import (
	"context"
	"flag"
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"edgenas/runtime/backends"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type versionInfo struct {
	Version  string   `json:"version"`
	Go       string   `json:"go"`
	Target   string   `json:"target"`
	Backends []string `json:"backends"`
	Commit   string   `json:"commit,omitempty"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Go: goruntime.Version(), Target: goruntime.GOOS + "/" + goruntime.GOARCH, Backends: backends.Available()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return v
}

func versionCommand() *command {
	var asJSON bool
	return &command{
		name: "version", summary: "print the version, target and available backends", usage: "[--json]",
		example: "edgenas version --json",
		flags:   func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, e *env, args []string) error {
			v := buildVersion()
			if asJSON {
				return writeJSON(e.stdout, v)
			}
			fmt.Fprintf(e.stdout, "edgenas %s (%s, %s) backends: %v\n", v.Version, v.Target, v.Go, v.Backends)
			return nil
		},
	}
}
