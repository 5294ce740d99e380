package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanRejects(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"bad target", Options{Target: "arm64", Version: "1"}, "want GOOS/GOARCH"},
		{"xnnpack on android/arm (32-bit)", Options{Target: "android/arm", Backend: BackendXNNPACK, Version: "1"}, "no cgo cross toolchain"},
		{"unknown backend", Options{Target: "linux/arm64", Backend: "tpu", Version: "1"}, `backend "tpu"`},
		{"no version", Options{Target: "linux/arm"}, "empty version"},
		{"quoted version", Options{Target: "linux/arm", Version: "1 -X x=y"}, "no spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := plan(&c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("plan(%+v) = %v, want error containing %q", c.o, err, c.want)
			}
		})
	}
}

func TestPlanDefaults(t *testing.T) {
	cases := []struct {
		target, askBackend      string
		backend, cgo, goos, got string
	}{
		{target: "linux/arm64", backend: BackendXNNPACK, cgo: "1", goos: "linux", got: "linux/arm64"},
		// The default Android agent is the linux/arm64 XNNPACK build.
		{target: "android/arm64", backend: BackendXNNPACK, cgo: "1", goos: "linux", got: "linux/arm64"},
		{target: "android/arm64", askBackend: BackendRef, backend: BackendRef, cgo: "0", goos: "android", got: "android/arm64"},
		{target: "linux/arm", backend: BackendRef, cgo: "0", goos: "linux", got: "linux/arm"},
	}
	for _, c := range cases {
		o := Options{Target: c.target, Backend: c.askBackend, Version: "7"}
		args, env, err := plan(&o)
		if err != nil {
			t.Fatal(err)
		}
		if o.Backend != c.backend || env["CGO_ENABLED"] != c.cgo || env["GOOS"] != c.goos || o.Target != c.got {
			t.Errorf("%s %s: backend %s cgo %s GOOS %s target %s, want %s %s %s %s", c.target, c.askBackend, o.Backend, env["CGO_ENABLED"],
				env["GOOS"], o.Target, c.backend, c.cgo, c.goos, c.got)
		}
		if r := ResolveTarget(c.target, c.askBackend); r != c.got {
			t.Errorf("ResolveTarget(%s, %q) = %s, want %s", c.target, c.askBackend, r, c.got)
		}
		joined := strings.Join(args, " ")
		for _, f := range []string{"-trimpath", "-buildid=", "-X main.version=7"} {
			if !strings.Contains(joined, f) {
				t.Errorf("%s: args %q lack %s", c.target, joined, f)
			}
		}
	}
}

const probeMain = `package main

import (
	"fmt"
	"runtime/debug"
)

var version = "dev"

func main() {
	bi, _ := debug.ReadBuildInfo()
	fmt.Println(version, bi.Path)
}
`

// TestReproducible builds the same small program from two different
// directories and checks the bytes match: -trimpath and the empty build id
// keep the source location and the toolchain's action ids out of the binary.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds twice")
	}
	var sums []string
	for i := range 2 {
		src := filepath.Join(t.TempDir(), "src", strings.Repeat("x", i+1))
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.22\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(src, "main.go"), []byte(probeMain), 0o644))
		out := t.TempDir()
		info, err := Build(context.Background(), Options{Target: "linux/arm", Backend: BackendRef, Version: "v1.2.3", Commit: "abc",
			OutDir: out, ModuleDir: src, Package: "."})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadInfo(out)
		if err != nil {
			t.Fatal(err)
		}
		sum, size, err := FileSHA256(filepath.Join(out, BinaryName))
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != sum || got.Size != size || info.SHA256 != sum || got.Go == "" || got.Env["GOARM"] != "7" {
			t.Fatalf("build record %+v does not describe the binary (sha %s size %d)", got, sum, size)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds from different directories differ: %s vs %s", sums[0], sums[1])
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
