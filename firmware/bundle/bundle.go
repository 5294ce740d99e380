// Package bundle is the signed agent bundle: one tar archive holding a
// signed manifest (version, target, minimum host protocol, and every file
// with its size and SHA-256) followed by the files it lists, in the spirit
// of Mender artifacts and RAUC bundles. The manifest comes first so a reader
// checks the signature before it looks at a single file byte, then checks
// each file against the manifest as it streams past; anything unexpected (a
// path escaping the bundle, a file the manifest does not list, a missing or
// short file, a wrong digest, a wrong target, an older version) is refused
// with a reason naming it.
package bundle

import (
	"archive/tar"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/build"
	"edgenas/internal/ident"
	"edgenas/internal/signing"
)

// Format is the manifest format version this package writes and reads.
const Format = 1

// ManifestEntry is the name of the first archive entry: the signed manifest
// envelope (internal/signing JSON).
const ManifestEntry = "manifest.sig"

// FilePrefix is prepended to every file's path inside the archive, so no
// file can shadow ManifestEntry.
const FilePrefix = "files/"

// Limits on what a reader accepts, so a hostile bundle cannot exhaust memory or disk.
const (
	MaxManifest = 1 << 20
	MaxFiles    = 256
	MaxFileSize = 512 << 20
)

// File is one file of the bundle.
type File struct {
	// Path is slash-separated and relative to the bundle root ("bin/edgenas").
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Exec marks files installed with mode 0755 (others get 0644).
	Exec bool `json:"exec,omitempty"`
}

// Manifest describes a bundle. It only travels signed.
type Manifest struct {
	Format int `json:"format"`
	// Version orders bundles: an installed bundle is only ever replaced by a
	// higher one (the same numbering as proto.Manifest.Version).
	Version uint64 `json:"version"`
	// AgentVersion is the version string the binary reports.
	AgentVersion string `json:"agent_version"`
	// Target is GOOS/GOARCH of the binary.
	Target  string `json:"target"`
	Backend string `json:"backend"`
	// MinHostProtocol is the oldest fleet protocol (proto.Version) the
	// agent in this bundle can talk to.
	MinHostProtocol int `json:"min_host_protocol"`
	// Binary is the agent executable's path.
	Binary string `json:"binary"`
	// Loader, when set, is the bundled dynamic loader the binary is started
	// through (with LibDir as its library path), so it runs where the
	// system's libraries differ or are missing.
	Loader string `json:"loader,omitempty"`
	LibDir string `json:"lib_dir,omitempty"`
	// Build is the build record (firmware/build Info) as JSON, for reproduction.
	Build   []byte    `json:"build,omitempty"`
	Files   []File    `json:"files"`
	Created time.Time `json:"created"`
}

// Expect is what the reader requires of a bundle besides a valid signature.
type Expect struct {
	// Target, if set, must equal the manifest's target.
	Target string
	// Installed, if not zero, is the version installed now; the bundle's must be higher.
	Installed uint64
	// HostProtocol is the protocol version of the fleet the agent will talk
	// to (default proto.Version).
	HostProtocol int
}

// CheckPath refuses a path that is not a plain relative path inside the bundle.
func CheckPath(p string) error {
	if p == "" || len(p) > 255 {
		return fmt.Errorf("path %q: empty or longer than 255 bytes", p)
	}
	if strings.Contains(p, "\\") || strings.ContainsRune(p, 0) || path.IsAbs(p) || filepath.IsAbs(p) {
		return fmt.Errorf("path %q escapes the bundle", p)
	}
	if path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("path %q escapes the bundle (not a clean relative path)", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "." {
			return fmt.Errorf("path %q escapes the bundle", p)
		}
	}
	return nil
}

// Validate checks a manifest's own consistency (after its signature verified).
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("manifest format %d: this reader knows %d", m.Format, Format)
	}
	if m.Version == 0 {
		return errors.New("manifest version 0, want >= 1")
	}
	if err := ident.CheckTarget(m.Target); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return fmt.Errorf("manifest lists %d files, want 1..%d", len(m.Files), MaxFiles)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if seen[f.Path] {
			return fmt.Errorf("manifest lists %q twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || f.Size > MaxFileSize {
			return fmt.Errorf("manifest: file %q size %d out of 0..%d", f.Path, f.Size, MaxFileSize)
		}
		if err := ident.CheckSHA256(f.SHA256); err != nil {
			return fmt.Errorf("manifest: file %q: %w", f.Path, err)
		}
	}
	// A file may not also be a directory of another ("bin" and "bin/x").
	for p := range seen {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("manifest: %q is both a file and the directory of %q", d, p)
			}
		}
	}
	if !seen[m.Binary] {
		return fmt.Errorf("manifest: binary %q is not among its files", m.Binary)
	}
	if m.Loader != "" {
		if !seen[m.Loader] {
			return fmt.Errorf("manifest: loader %q is not among its files", m.Loader)
		}
		if err := CheckPath(m.LibDir); err != nil {
			return fmt.Errorf("manifest lib_dir: %w", err)
		}
	}
	return nil
}

// check applies the reader's expectations.
func (m *Manifest) check(e Expect) error {
	if e.Target != "" && m.Target != e.Target {
		return fmt.Errorf("wrong target: bundle is for %s, this device is %s", m.Target, e.Target)
	}
	if e.Installed != 0 && m.Version <= e.Installed {
		return fmt.Errorf("downgrade: bundle version %d <= installed %d", m.Version, e.Installed)
	}
	hp := e.HostProtocol
	if hp == 0 {
		hp = proto.Version
	}
	if m.MinHostProtocol > hp {
		return fmt.Errorf("bundle needs host protocol >= %d, have %d", m.MinHostProtocol, hp)
	}
	return nil
}

// Create writes a bundle of the files under srcDir that m.Files names
// (Size and SHA256 are filled in here), signed with key. The archive is
// deterministic: fixed order, times, owners and modes.
func Create(w io.Writer, key ed25519.PrivateKey, m Manifest, srcDir string) (Manifest, error) {
	m.Format = Format
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	for i := range m.Files {
		f := &m.Files[i]
		sum, size, err := build.FileSHA256(filepath.Join(srcDir, filepath.FromSlash(f.Path)))
		if err != nil {
			return m, err
		}
		f.SHA256, f.Size = sum, size
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("create bundle: %w", err)
	}
	env, err := signing.SignJSON(key, m)
	if err != nil {
		return m, fmt.Errorf("sign bundle manifest: %w", err)
	}
	tw := tar.NewWriter(w)
	if err := writeEntry(tw, ManifestEntry, 0o644, int64(len(env)), strings.NewReader(string(env))); err != nil {
		return m, err
	}
	for _, f := range m.Files {
		mode := int64(0o644)
		if f.Exec {
			mode = 0o755
		}
		src, err := os.Open(filepath.Join(srcDir, filepath.FromSlash(f.Path)))
		if err != nil {
			return m, fmt.Errorf("create bundle: %w", err)
		}
		err = writeEntry(tw, FilePrefix+f.Path, mode, f.Size, src)
		src.Close()
		if err != nil {
			return m, err
		}
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("create bundle: %w", err)
	}
	return m, nil
}

func writeEntry(tw *tar.Writer, name string, mode, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle entry %s: %w", name, err)
	}
	if n, err := io.Copy(tw, r); err != nil || n != size {
		return fmt.Errorf("bundle entry %s: wrote %d of %d bytes: %v", name, n, size, err)
	}
	return nil
}

// Verify reads a whole bundle and checks it without writing anything.
func Verify(r io.Reader, trust signing.Verifier, e Expect) (Manifest, error) {
	return read(r, trust, e, func(File) (io.WriteCloser, error) { return nopWriteCloser{io.Discard}, nil })
}

// Extract verifies a bundle and writes its files under dest, which must not
// exist yet (it is created). On any error dest is removed again, so a
// refused bundle leaves nothing behind.
func Extract(r io.Reader, trust signing.Verifier, e Expect, dest string) (m Manifest, err error) {
	if _, err := os.Lstat(dest); err == nil {
		return Manifest{}, fmt.Errorf("extract bundle: %s already exists", dest)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("extract bundle: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dest)
		}
	}()
	m, err = read(r, trust, e, func(f File) (io.WriteCloser, error) {
		p := filepath.Join(dest, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		mode := fs.FileMode(0o644)
		if f.Exec {
			mode = 0o755
		}
		return os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	})
	if err != nil {
		return m, err
	}
	if err := syncTree(dest); err != nil {
		return m, fmt.Errorf("extract bundle: %w", err)
	}
	return m, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// read is the one reader behind Verify and Extract: signature, manifest,
// expectations, then each file in manifest order.
func read(r io.Reader, trust signing.Verifier, e Expect, open func(File) (io.WriteCloser, error)) (Manifest, error) {
	var m Manifest
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return m, fmt.Errorf("truncated bundle: no manifest entry: %w", eofAsUnexpected(err))
	}
	if hdr.Name != ManifestEntry || hdr.Typeflag != tar.TypeReg {
		return m, fmt.Errorf("bundle: first entry is %q, want the signed manifest %q", hdr.Name, ManifestEntry)
	}
	if hdr.Size <= 0 || hdr.Size > MaxManifest {
		return m, fmt.Errorf("bundle: manifest entry of %d bytes out of 1..%d", hdr.Size, MaxManifest)
	}
	env, err := io.ReadAll(io.LimitReader(tr, MaxManifest))
	if err != nil {
		return m, fmt.Errorf("truncated bundle: manifest: %w", eofAsUnexpected(err))
	}
	if err := openManifest(trust, env, &m); err != nil {
		return Manifest{}, fmt.Errorf("bundle signature: %w", err)
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	if err := m.check(e); err != nil {
		return m, err
	}
	for _, f := range m.Files {
		hdr, err := tr.Next()
		if err != nil {
			return m, fmt.Errorf("truncated bundle: file %q missing: %w", f.Path, eofAsUnexpected(err))
		}
		name, ok := strings.CutPrefix(hdr.Name, FilePrefix)
		if !ok {
			return m, fmt.Errorf("bundle entry %q: not under %s", hdr.Name, FilePrefix)
		}
		if err := CheckPath(name); err != nil {
			return m, fmt.Errorf("bundle entry: %w", err)
		}
		if name != f.Path {
			return m, fmt.Errorf("bundle entry %q: manifest expects %q here", name, f.Path)
		}
		if hdr.Typeflag != tar.TypeReg {
			return m, fmt.Errorf("bundle entry %q: type %q, only regular files are allowed", name, hdr.Typeflag)
		}
		if hdr.Size != f.Size {
			return m, fmt.Errorf("bundle file %q: %d bytes, manifest says %d", name, hdr.Size, f.Size)
		}
		w, err := open(f)
		if err != nil {
			return m, fmt.Errorf("bundle file %q: %w", name, err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), tr)
		cerr := w.Close()
		if err != nil {
			return m, fmt.Errorf("truncated bundle: file %q: %w", name, eofAsUnexpected(err))
		}
		if n != f.Size {
			return m, fmt.Errorf("truncated bundle: file %q has %d of %d bytes", name, n, f.Size)
		}
		if cerr != nil {
			return m, fmt.Errorf("bundle file %q: %w", name, cerr)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			return m, fmt.Errorf("bundle file %q: sha256 mismatch (tampered): %s, manifest says %s", name, got, f.SHA256)
		}
	}
	if hdr, err := tr.Next(); err != io.EOF {
		if err != nil {
			return m, fmt.Errorf("truncated bundle: after the last file: %w", eofAsUnexpected(err))
		}
		return m, fmt.Errorf("bundle entry %q is not in the manifest", hdr.Name)
	}
	// The tar reader stops at the end marker; whatever follows (another
	// member, appended bytes) would ride along unverified, so it is refused.
	var one [1]byte
	if n, err := io.ReadFull(r, one[:]); n > 0 {
		return m, errors.New("bundle: data after the tar end marker (a member or bytes appended to the signed bundle)")
	} else if err != io.EOF {
		return m, fmt.Errorf("bundle: after the tar end marker: %w", err)
	}
	return m, nil
}

func eofAsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// syncTree fsyncs every file and directory under root so an extracted slot
// survives a power cut before it is switched to.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// ReadManifest verifies a bundle file's signature and returns its manifest
// without reading the files (for listing and for `edgenas deploy`).
func ReadManifest(p string, trust signing.Verifier) (Manifest, error) {
	f, err := os.Open(p)
	if err != nil {
		return Manifest{}, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	var m Manifest
	tr := tar.NewReader(f)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != ManifestEntry || hdr.Size <= 0 || hdr.Size > MaxManifest {
		return m, fmt.Errorf("bundle %s: no signed manifest first (%v)", p, err)
	}
	env, err := io.ReadAll(tr)
	if err != nil {
		return m, fmt.Errorf("bundle %s: manifest: %w", p, err)
	}
	if err := openManifest(trust, env, &m); err != nil {
		return Manifest{}, fmt.Errorf("bundle %s signature: %w", p, err)
	}
	return m, m.Validate()
}

// openManifest checks the manifest's signature against trust (the host
// keys the device trusts now, rotations included).
func openManifest(trust signing.Verifier, env []byte, m *Manifest) error {
	if trust == nil {
		return errors.New("no trusted host key to check it against")
	}
	return trust.OpenJSON(env, m)
}

// VerifyFile opens and verifies a bundle file.
func VerifyFile(p string, trust signing.Verifier, e Expect) (Manifest, error) {
	f, err := os.Open(p)
	if err != nil {
		return Manifest{}, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	m, err := Verify(f, trust, e)
	if err != nil {
		return m, fmt.Errorf("bundle %s: %w", p, err)
	}
	return m, nil
}
