// Package build cross-compiles the edgenas agent for a device target, the
// same bytes every time for the same inputs: the module is built with
// -trimpath, an empty build id and fixed ldflags, in an environment that sets
// every variable the output depends on, and the versions of every input the
// Go build cache does not see (the Go toolchain, the C cross compiler, the
// Debian packages linked in) are recorded next to the binary in build.json.
//
// Two kinds of build exist. A cgo build for linux/arm64 links the xnnpack
// backend against Debian's arm64 packages (libxnnpack-dev:arm64 and
// friends) with aarch64-linux-gnu-gcc; it is also the default Android agent
// (see ResolveTarget). A pure-Go build (CGO_ENABLED=0) has only the ref
// backend and works for any GOOS/GOARCH Go supports, including android/arm64
// (the fallback with --backend ref) and linux/arm.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"edgenas/internal/atomicfile"
	"edgenas/internal/ident"
)

// Backends a build can carry.
const (
	BackendXNNPACK = "xnnpack" // cgo, XNNPACK int8 kernels; linux/arm64 (cross) or the host's own target
	BackendRef     = "ref"     // pure Go reference kernels; any target
)

// BinaryName is the file name of the built agent inside the output directory.
const BinaryName = "edgenas"

// InfoName is the build record written next to the binary.
const InfoName = "build.json"

// Options describe one build.
type Options struct {
	// Target is GOOS/GOARCH, e.g. "linux/arm64", "android/arm64", "linux/arm"
	// (see ResolveTarget for what android/arm64 with xnnpack builds).
	Target string
	// Backend is BackendXNNPACK or BackendRef (default: DefaultBackend).
	Backend string
	// Version is stamped into the binary (main.version).
	Version string
	// Commit is the source revision stamped into the binary (main.commit); may be empty.
	Commit string
	// OutDir receives BinaryName and InfoName.
	OutDir string
	// ModuleDir is the root of the edgenas module (where go.mod is).
	ModuleDir string
	// Package is the main package to build, relative to ModuleDir (default ./cmd/edgenas).
	Package string
	// Sysroot holds target packages that cannot be installed next to the
	// host's own (Debian's libxnnpack-dev and libpthreadpool-dev are not
	// Multi-Arch: same), extracted with dpkg-deb by `make deps-arm64`;
	// default DefaultSysroot().
	Sysroot string
	// Go is the go command (default "go").
	Go string
	// Log receives the commands run (may be nil).
	Log io.Writer
}

// Lib is one Debian package the binary was linked against or will load.
type Lib struct {
	Package string `json:"package"`
	Version string `json:"version"`
}

// Info is the build record: everything needed to reproduce the binary, and
// its digest to check a reproduction against.
type Info struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	Target    string            `json:"target"`
	Backend   string            `json:"backend"`
	CGO       bool              `json:"cgo"`
	Go        string            `json:"go"`
	CC        string            `json:"cc,omitempty"`
	CCVersion string            `json:"cc_version,omitempty"`
	Libs      []Lib             `json:"libs,omitempty"`
	Package   string            `json:"package"`
	Flags     []string          `json:"flags"`
	Env       map[string]string `json:"env"`
	SHA256    string            `json:"sha256"`
	Size      int64             `json:"size"`
}

// crossTargets are the cgo targets: the C cross compiler, the multiarch
// directory Debian installs the target's libraries into, and the Debian
// packages the build links (runtime/xnnpack, nn, libc), recorded
// for reproducibility and checked first so a missing one is named rather
// than reported as a linker error.
var crossTargets = map[string]struct {
	cc, multiarch string
	libs          []string
}{
	"linux/arm64": {"aarch64-linux-gnu-gcc", "aarch64-linux-gnu",
		[]string{"libxnnpack-dev:arm64", "libxnnpack0:arm64", "libpthreadpool-dev:arm64", "libpthreadpool0:arm64",
			"libcpuinfo0:arm64", "libopenblas-dev:arm64", "libc6:arm64", "libc6-arm64-cross"}},
}

// SysrootPackages is the file in a sysroot listing the packages extracted
// into it, one "package:arch version" a line.
const SysrootPackages = "packages.txt"

// DefaultSysroot is $EDGENAS_ARM64_SYSROOT, else ~/.cache/edgenas/arm64-sysroot.
func DefaultSysroot() string {
	if s := os.Getenv("EDGENAS_ARM64_SYSROOT"); s != "" {
		return s
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "edgenas-arm64-sysroot")
	}
	return filepath.Join(home, ".cache", "edgenas", "arm64-sysroot")
}

// LibDirs are the directories a cgo target's shared libraries are found in:
// the sysroot's, then the system's multiarch directories.
func LibDirs(target, sysroot string) []string {
	ct, ok := crossTargets[target]
	if !ok {
		return nil
	}
	if sysroot == "" {
		sysroot = DefaultSysroot()
	}
	return []string{filepath.Join(sysroot, "usr/lib", ct.multiarch), "/usr/lib/" + ct.multiarch, "/lib/" + ct.multiarch}
}

// hostedTargets are devices whose XNNPACK agent is another target's build.
// An Android kernel runs the linux/arm64 glibc build from /data/local/tmp
// like any adb-pushed binary: the bundle carries glibc's loader and every
// library, so nothing of Android's bionic is used. (Go's own android/arm64
// port would need the NDK's C toolchain and an Android XNNPACK build for cgo.)
var hostedTargets = map[string]string{"android/arm64": "linux/arm64"}

// DefaultBackend is the backend a target gets when none is asked for:
// xnnpack where a cgo build runs on the device (linux/arm64 boards, Android
// phones), ref elsewhere.
func DefaultBackend(target string) string {
	if _, ok := crossTargets[target]; ok {
		return BackendXNNPACK
	}
	if _, ok := hostedTargets[target]; ok {
		return BackendXNNPACK
	}
	return BackendRef
}

// ResolveTarget is the GOOS/GOARCH a build for target and backend (""
// meaning DefaultBackend) really produces, as its build record and bundle
// manifest state it: android/arm64 with xnnpack is the linux/arm64 build;
// everything else is itself.
func ResolveTarget(target, backend string) string {
	if backend == "" {
		backend = DefaultBackend(target)
	}
	if host, ok := hostedTargets[target]; ok && backend == BackendXNNPACK {
		return host
	}
	return target
}

// ldflags are fixed apart from the version: no build id, no symbol table or
// DWARF (both carry nothing a device needs and make bytes depend on more).
func ldflags(version, commit, backend string) string {
	f := "-s -w -buildid= -X main.version=" + version + " -X main.buildBackend=" + backend
	if commit != "" {
		f += " -X main.commit=" + commit
	}
	return f
}

// plan resolves options into the command line and environment of the build.
func plan(o *Options) (args []string, env map[string]string, err error) {
	if err := ident.CheckTarget(o.Target); err != nil {
		return nil, nil, err
	}
	if o.Backend == "" {
		o.Backend = DefaultBackend(o.Target)
	}
	o.Target = ResolveTarget(o.Target, o.Backend)
	if o.Version == "" {
		return nil, nil, errors.New("build: empty version")
	}
	for _, v := range []string{o.Version, o.Commit} {
		if strings.ContainsAny(v, " \t'\"") {
			return nil, nil, fmt.Errorf("version %q: no spaces or quotes", v)
		}
	}
	if o.Package == "" {
		o.Package = "./cmd/edgenas"
	}
	if o.Go == "" {
		o.Go = "go"
	}
	goos, goarch, _ := strings.Cut(o.Target, "/")
	env = map[string]string{"GOOS": goos, "GOARCH": goarch, "GOFLAGS": "", "GOEXPERIMENT": "", "GOTOOLCHAIN": "local"}
	if goarch == "arm" {
		env["GOARM"] = "7"
	}
	if goarch == "amd64" {
		env["GOAMD64"] = "v1"
	}
	if goarch == "arm64" {
		env["GOARM64"] = "v8.0"
	}
	switch o.Backend {
	case BackendRef:
		env["CGO_ENABLED"] = "0"
	case BackendXNNPACK:
		ct, ok := crossTargets[o.Target]
		if !ok {
			return nil, nil, fmt.Errorf("backend xnnpack: target %s has no cgo cross toolchain (only linux/arm64); use --backend ref", o.Target)
		}
		env["CGO_ENABLED"] = "1"
		env["CC"] = ct.cc
		// -g0: cgo objects carry no DWARF paths; -L: the cross gcc does
		// not search Debian's multiarch directory by itself; -rpath-link
		// lets ld resolve the libraries' own dependencies.
		if o.Sysroot == "" {
			o.Sysroot = DefaultSysroot()
		}
		env["CGO_CFLAGS"] = "-O2 -g0 -I" + filepath.Join(o.Sysroot, "usr/include")
		var ld []string
		for _, d := range LibDirs(o.Target, o.Sysroot)[:2] {
			ld = append(ld, "-L"+d, "-Wl,-rpath-link,"+d)
		}
		env["CGO_LDFLAGS"] = strings.Join(ld, " ")
	default:
		return nil, nil, fmt.Errorf("backend %q: want %q or %q", o.Backend, BackendXNNPACK, BackendRef)
	}
	args = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags(o.Version, o.Commit, o.Backend), "-o", "OUT", o.Package}
	return args, env, nil
}

// Build compiles the agent into o.OutDir/BinaryName and writes the build
// record o.OutDir/InfoName.
func Build(ctx context.Context, o Options) (Info, error) {
	args, env, err := plan(&o)
	if err != nil {
		return Info{}, err
	}
	if o.OutDir == "" {
		return Info{}, errors.New("build: no output directory")
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Info{}, fmt.Errorf("build: %w", err)
	}
	info := Info{Version: o.Version, Commit: o.Commit, Target: o.Target, Backend: o.Backend, CGO: env["CGO_ENABLED"] == "1", Package: o.Package, Env: env}
	if info.Go, err = output(ctx, o.ModuleDir, nil, o.Go, "env", "GOVERSION"); err != nil {
		return Info{}, fmt.Errorf("build: go toolchain: %w", err)
	}
	if info.CGO {
		info.CC = env["CC"]
		if info.CCVersion, err = output(ctx, "", nil, info.CC, "-dumpfullversion"); err != nil {
			return Info{}, fmt.Errorf("build: C cross compiler %s not usable (install gcc-aarch64-linux-gnu, see `make deps-arm64`): %w", info.CC, err)
		}
		for _, p := range crossTargets[o.Target].libs {
			v, err := DebVersion(ctx, p)
			if err != nil {
				v, err = sysrootVersion(o.Sysroot, p)
			}
			if err != nil {
				return Info{}, fmt.Errorf("build: %s is not installed (see `make deps-arm64`): %w", p, err)
			}
			info.Libs = append(info.Libs, Lib{Package: p, Version: v})
		}
	}
	bin := filepath.Join(o.OutDir, BinaryName)
	tmp := bin + ".tmp"
	for i, a := range args {
		if a == "OUT" {
			args[i] = tmp
		}
	}
	info.Flags = append([]string(nil), args[:len(args)-1]...)
	for i, a := range info.Flags {
		if a == tmp {
			info.Flags[i] = BinaryName
		}
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "build: %s %s %s\n", envString(env), o.Go, strings.Join(args, " "))
	}
	cmd := exec.CommandContext(ctx, o.Go, args...)
	cmd.Dir = o.ModuleDir
	cmd.Env = mergeEnv(os.Environ(), env)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return Info{}, fmt.Errorf("go build %s for %s: %w\n%s", o.Package, o.Target, err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return Info{}, fmt.Errorf("build: %w", err)
	}
	if info.SHA256, info.Size, err = FileSHA256(bin); err != nil {
		return Info{}, err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return Info{}, fmt.Errorf("build: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(o.OutDir, InfoName), append(b, '\n')); err != nil {
		return Info{}, fmt.Errorf("build: write %s: %w", InfoName, err)
	}
	return info, nil
}

// ReadInfo loads a build record written by Build.
func ReadInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, InfoName))
	if err != nil {
		return info, fmt.Errorf("read build record: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("parse %s: %w", filepath.Join(dir, InfoName), err)
	}
	return info, nil
}

// FileSHA256 returns a file's hex SHA-256 and size.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// DebVersion returns the installed version of a Debian package (pkg or pkg:arch).
func DebVersion(ctx context.Context, pkg string) (string, error) {
	out, err := output(ctx, "", nil, "dpkg-query", "-W", "-f=${Status}\t${Version}", pkg)
	if err != nil {
		return "", err
	}
	status, ver, _ := strings.Cut(out, "\t")
	if !strings.HasSuffix(status, "installed") || strings.Contains(status, "not-installed") {
		return "", fmt.Errorf("%s: status %q", pkg, status)
	}
	return ver, nil
}

// sysrootVersion looks a package up in the sysroot's package list.
func sysrootVersion(sysroot, pkg string) (string, error) {
	b, err := os.ReadFile(filepath.Join(sysroot, SysrootPackages))
	if err != nil {
		return "", fmt.Errorf("neither installed nor in sysroot: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && p == pkg {
			return v, nil
		}
	}
	return "", fmt.Errorf("neither installed nor listed in %s", filepath.Join(sysroot, SysrootPackages))
}

func output(ctx context.Context, dir string, env map[string]string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = mergeEnv(os.Environ(), env)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// mergeEnv overrides base with env; variables set to "" are removed so a
// caller's GOFLAGS cannot change the bytes.
func mergeEnv(base []string, env map[string]string) []string {
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func envString(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		if env[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", k, env[k])
	}
	return b.String()
}
