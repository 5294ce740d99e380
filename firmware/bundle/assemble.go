package bundle

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Layout inside a bundle.
const (
	BinDir = "bin"
	LibDir = "lib"
)

// Assembly is a staged bundle tree: the directory holding it and the
// manifest fields that describe its layout (Files without digests yet).
type Assembly struct {
	Dir    string
	Binary string
	Loader string
	LibDir string
	Files  []File
}

// libDirs are where a cgo target's shared libraries are looked up (Debian
// multiarch layout) by ELF machine.
var libDirs = map[elf.Machine][]string{
	elf.EM_AARCH64: {"/usr/lib/aarch64-linux-gnu", "/lib/aarch64-linux-gnu"},
	elf.EM_X86_64:  {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/lib64"},
}

// Assemble stages binary into stage/bin. A statically linked binary (a
// pure-Go build) is the whole bundle; a dynamically linked one also gets
// every shared library it needs, transitively, and its dynamic loader in
// stage/lib, so it can be started through the bundled loader on a system
// whose libraries differ (or that has none, like Android).
//
// extraDirs are searched for libraries before the system's multiarch
// directories (firmware/build.LibDirs gives the sysroot's).
func Assemble(binary, stage string, extraDirs []string) (Assembly, error) {
	a := Assembly{Dir: stage, Binary: BinDir + "/" + filepath.Base(binary)}
	if err := copyFile(binary, filepath.Join(stage, BinDir, filepath.Base(binary)), 0o755); err != nil {
		return a, err
	}
	a.Files = append(a.Files, File{Path: a.Binary, Exec: true})
	f, err := elf.Open(binary)
	if err != nil {
		return a, fmt.Errorf("assemble: %s is not an ELF binary: %w", binary, err)
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return a, fmt.Errorf("assemble: read PT_INTERP of %s: %w", binary, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return a, nil
	}
	sys, ok := libDirs[f.Machine]
	if !ok {
		return a, fmt.Errorf("assemble: no library directories known for ELF machine %v", f.Machine)
	}
	dirs := append(append([]string(nil), extraDirs...), sys...)
	libs := map[string]string{} // soname -> source path
	if err := needed(f, dirs, libs); err != nil {
		return a, fmt.Errorf("assemble %s: %w", binary, err)
	}
	loader := path.Base(interp)
	if _, ok := libs[loader]; !ok {
		src, err := find(loader, dirs)
		if err != nil {
			return a, fmt.Errorf("assemble: loader %s: %w", interp, err)
		}
		libs[loader] = src
	}
	names := make([]string, 0, len(libs))
	for n := range libs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := copyFile(libs[n], filepath.Join(stage, LibDir, n), 0o755); err != nil {
			return a, err
		}
		a.Files = append(a.Files, File{Path: LibDir + "/" + n, Exec: n == loader})
	}
	a.Loader, a.LibDir = LibDir+"/"+loader, LibDir
	return a, nil
}

// needed adds f's DT_NEEDED libraries, and theirs, to libs.
func needed(f *elf.File, dirs []string, libs map[string]string) error {
	names, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read DT_NEEDED: %w", err)
	}
	for _, n := range names {
		if _, ok := libs[n]; ok {
			continue
		}
		src, err := find(n, dirs)
		if err != nil {
			return err
		}
		libs[n] = src
		lf, err := elf.Open(src)
		if err != nil {
			return fmt.Errorf("open %s: %w", src, err)
		}
		err = needed(lf, dirs, libs)
		lf.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

func find(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return real, nil
		}
	}
	return "", fmt.Errorf("shared library %s not found in %s (is the arm64 package installed? see `make deps-arm64`)", name, strings.Join(dirs, ", "))
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("assemble: copy %s: %w", src, err)
	}
	return out.Close()
}

// Command returns the argv that starts the bundle's agent installed at
// dir: through the bundled loader when it has one.
func Command(dir string, m Manifest, args ...string) []string {
	bin := filepath.Join(dir, filepath.FromSlash(m.Binary))
	if m.Loader == "" {
		return append([]string{bin}, args...)
	}
	return append([]string{filepath.Join(dir, filepath.FromSlash(m.Loader)), "--library-path", filepath.Join(dir, filepath.FromSlash(m.LibDir)), bin}, args...)
}
