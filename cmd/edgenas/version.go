package main

import (
	"context"
	"flag"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sort"

	"edgenas/runtime/backends"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=...
// -X main.buildBackend=..." (the Makefile and `edgenas firmware build` do).
var (
	version      = "dev"
	commit       = ""
	buildBackend = ""
)

// versionInfo is what `version --json` reports: enough to tell which build
// runs on a device and to reproduce it (`edgenas firmware build` with the
// same version, commit, target and backend gives the same bytes).
type versionInfo struct {
	Version  string   `json:"version"`
	Commit   string   `json:"commit,omitempty"`
	Modified bool     `json:"modified,omitempty"`
	Go       string   `json:"go"`
	Target   string   `json:"target"`
	Backends []string `json:"backends"`
	// Backend is the backend the build was made for ("xnnpack" or "ref"), when stamped.
	Backend string `json:"build_backend,omitempty"`
	// Build holds the Go build settings recorded in the binary
	// (CGO_ENABLED, GOARCH, -trimpath, -ldflags, ...).
	Build map[string]string `json:"build,omitempty"`
	// Module is the main module's path; Deps its dependencies (path@version).
	Module string   `json:"module,omitempty"`
	Deps   []string `json:"deps,omitempty"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Backend: buildBackend, Go: goruntime.Version(),
		Target: goruntime.GOOS + "/" + goruntime.GOARCH, Backends: backends.Available()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module = bi.Main.Path
	v.Build = map[string]string{}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		default:
			v.Build[s.Key] = s.Value
		}
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		v.Deps = append(v.Deps, d.Path+"@"+d.Version)
	}
	sort.Strings(v.Deps)
	return v
}

func versionCommand() *command {
	var asJSON bool
	return &command{
		name: "version", summary: "print the version, target, backends and build settings", usage: "[--json]",
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
