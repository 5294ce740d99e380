package bundle

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"edgenas/firmware/build"
	"edgenas/internal/atomicfile"
)

// PackOptions say which build PackBuild packs and how it signs the bundle.
type PackOptions struct {
	// BuildDir is a firmware/build output directory: the binary and its
	// build record, which the manifest carries for reproduction.
	BuildDir string
	// Target, if set, is the device target the build must serve (an
	// android/arm64 XNNPACK agent is the linux/arm64 build: build.ResolveTarget).
	Target string
	// Backend is the backend asked for with Target ("" for its default).
	Backend string
	// Out is the bundle file, written atomically.
	Out string
	Key ed25519.PrivateKey
	// Version, MinHostProtocol and Created go into the manifest as they are.
	Version         uint64
	MinHostProtocol int
	Created         time.Time
	// Sysroot is where a cross target's shared libraries are found
	// (build.LibDirs); "" for the default.
	Sysroot string
}

// PackBuild checks a build's binary against its build record, assembles it
// with the shared libraries and loader it needs (Assemble), and writes the
// signed bundle to o.Out.
func PackBuild(o PackOptions) (Manifest, error) {
	info, err := build.ReadInfo(o.BuildDir)
	if err != nil {
		return Manifest{}, err
	}
	if o.Target != "" && build.ResolveTarget(o.Target, o.Backend) != info.Target {
		return Manifest{}, fmt.Errorf("pack: target %s but the build in %s is for %s", o.Target, o.BuildDir, info.Target)
	}
	binary := filepath.Join(o.BuildDir, build.BinaryName)
	sum, _, err := build.FileSHA256(binary)
	if err != nil {
		return Manifest{}, err
	}
	if sum != info.SHA256 {
		return Manifest{}, fmt.Errorf("%s: binary sha256 %s does not match its build record %s", o.BuildDir, sum, info.SHA256)
	}
	rec, err := os.ReadFile(filepath.Join(o.BuildDir, build.InfoName))
	if err != nil {
		return Manifest{}, fmt.Errorf("pack: %w", err)
	}
	stage, err := os.MkdirTemp("", "edgenas-stage-")
	if err != nil {
		return Manifest{}, fmt.Errorf("pack: %w", err)
	}
	defer os.RemoveAll(stage)
	a, err := Assemble(binary, stage, build.LibDirs(info.Target, o.Sysroot))
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Version: o.Version, AgentVersion: info.Version, Target: info.Target, Backend: info.Backend,
		MinHostProtocol: o.MinHostProtocol, Binary: a.Binary, Loader: a.Loader, LibDir: a.LibDir, Build: bytes.TrimSpace(rec),
		Files: a.Files, Created: o.Created}
	err = atomicfile.Write(o.Out, func(w io.Writer) error {
		var err error
		m, err = Create(w, o.Key, m, a.Dir)
		return err
	})
	if err != nil {
		return m, fmt.Errorf("write %s: %w", o.Out, err)
	}
	return m, nil
}
