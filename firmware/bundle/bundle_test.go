package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/internal/signing"
)

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// fixture stages a two-file tree and returns the manifest to bundle it.
func fixture(t testing.TB) (string, Manifest) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"bin/edgenas": "#!agent binary " + strings.Repeat("A", 3000), "lib/libx.so.0": "library " + strings.Repeat("B", 700)}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := Manifest{Version: 5, AgentVersion: "v0.5", Target: "linux/arm64", Backend: "xnnpack", MinHostProtocol: 1,
		Binary: "bin/edgenas", Files: []File{{Path: "bin/edgenas", Exec: true}, {Path: "lib/libx.so.0"}}, Created: time.Unix(1700000000, 0).UTC()}
	return dir, m
}

func makeBundle(t testing.TB, priv ed25519.PrivateKey) []byte {
	t.Helper()
	dir, m := fixture(t)
	var buf bytes.Buffer
	if _, err := Create(&buf, priv, m, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawBundle writes a signed manifest followed by arbitrary entries, for
// bundles Create would never make.
func rawBundle(t testing.TB, priv ed25519.PrivateKey, m Manifest, entries []tar.Header, bodies []string) []byte {
	t.Helper()
	env, err := signing.SignJSON(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestEntry, Mode: 0o644, Size: int64(len(env))})
	tw.Write(env)
	for i, h := range entries {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(bodies[i]))
	}
	tw.Close()
	return buf.Bytes()
}

func TestVerifyAndExtract(t *testing.T) {
	pub, priv := testKey(t)
	b := makeBundle(t, priv)
	b2 := makeBundle(t, priv)
	if !bytes.Equal(b, b2) {
		t.Fatal("two bundles of the same files differ: Create is not deterministic")
	}
	m, err := Verify(bytes.NewReader(b), signing.Only(pub), Expect{Target: "linux/arm64", Installed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 5 || len(m.Files) != 2 || m.Files[0].Size != int64(len("#!agent binary ")+3000) {
		t.Fatalf("manifest %+v", m)
	}
	dest := filepath.Join(t.TempDir(), "slot")
	if _, err := Extract(bytes.NewReader(b), signing.Only(pub), Expect{}, dest); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dest, "bin/edgenas"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("extracted binary: %v %v", st, err)
	}
	got := Command(dest, Manifest{Binary: "bin/edgenas", Loader: "lib/ld.so", LibDir: "lib"}, "agent")
	want := []string{filepath.Join(dest, "lib/ld.so"), "--library-path", filepath.Join(dest, "lib"), filepath.Join(dest, "bin/edgenas"), "agent"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Command = %q, want %q", got, want)
	}
}

// TestTrustSet checks a bundle against a set of keys, as an agent does after
// a key rotation: a bundle signed by any key of the set verifies, one signed
// by a key outside it, or checked against no key at all, does not.
func TestTrustSet(t *testing.T) {
	oldPub, oldPriv := testKey(t)
	newPub, newPriv := testKey(t)
	_, outsiderPriv := testKey(t)
	rotated := signing.TrustSet{Serial: 1, Keys: []ed25519.PublicKey{oldPub, newPub}}
	cases := []struct {
		name  string
		b     []byte
		trust signing.Verifier
		want  string // "" accepts
	}{
		{name: "new key in the rotated set", b: makeBundle(t, newPriv), trust: rotated},
		{name: "old key still in the set", b: makeBundle(t, oldPriv), trust: rotated},
		{name: "new key against the old key alone", b: makeBundle(t, newPriv), trust: signing.Only(oldPub), want: "signed by another key"},
		{name: "key outside the set", b: makeBundle(t, outsiderPriv), trust: rotated, want: "signed by another key"},
		{name: "no trusted key", b: makeBundle(t, newPriv), trust: nil, want: "no trusted host key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(c.b), c.trust, Expect{})
			if c.want == "" && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Verify: %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	pub, priv := testKey(t)
	otherPub, otherPriv := testKey(t)
	good := makeBundle(t, priv)
	_, m := fixture(t)
	m.Format = Format
	for i := range m.Files {
		m.Files[i].SHA256 = strings.Repeat("0", 64)
	}
	m.Files[0].Size, m.Files[1].Size = 3, 3

	tampered := bytes.Clone(good)
	i := bytes.Index(tampered, []byte("AAAA"))
	tampered[i] = 'X'

	traversal := m
	traversal.Files = append([]File(nil), m.Files...)
	traversal.Files[1].Path = "../../etc/passwd"
	absolute := m
	absolute.Files = append([]File(nil), m.Files...)
	absolute.Files[1].Path = "/etc/passwd"
	// A manifest that is fine, followed by an entry whose name escapes.
	escapeEntry := rawBundle(t, priv, m, []tar.Header{{Typeflag: tar.TypeReg, Name: "files/../../x", Size: 3, Mode: 0o644}}, []string{"abc"})
	symlink := rawBundle(t, priv, m, []tar.Header{{Typeflag: tar.TypeSymlink, Name: "files/bin/edgenas", Linkname: "/bin/sh"}}, []string{""})

	cases := []struct {
		name   string
		b      []byte
		pub    ed25519.PublicKey
		expect Expect
		want   string
	}{
		{"tampered file", tampered, pub, Expect{}, "sha256 mismatch"},
		{"wrong key", good, otherPub, Expect{}, "signed by another key"},
		{"signed by wrong key", makeBundle(t, otherPriv), pub, Expect{}, "bundle signature"},
		{"wrong target", good, pub, Expect{Target: "android/arm64"}, "wrong target"},
		{"downgrade", good, pub, Expect{Installed: 7}, "downgrade: bundle version 5 <= installed 7"},
		{"same version", good, pub, Expect{Installed: 5}, "downgrade"},
		{"newer host protocol", rawBundle(t, priv, func() Manifest { x := m; x.MinHostProtocol = 99; return x }(), nil, nil), pub, Expect{}, "host protocol >= 99"},
		{"path traversal in manifest", rawBundle(t, priv, traversal, nil, nil), pub, Expect{}, "escapes the bundle"},
		{"absolute path in manifest", rawBundle(t, priv, absolute, nil, nil), pub, Expect{}, "escapes the bundle"},
		{"path traversal in archive", escapeEntry, pub, Expect{}, "escapes the bundle"},
		{"symlink entry", symlink, pub, Expect{}, "only regular files"},
		{"truncated in manifest", good[:700], pub, Expect{}, "truncated bundle"},
		{"truncated in file", good[:len(good)-2500], pub, Expect{}, "truncated bundle"},
		{"empty", nil, pub, Expect{}, "truncated bundle"},
		{"not a bundle", []byte(strings.Repeat("garbage!", 200)), pub, Expect{}, "bundle"},
		{"trailing data", withTrailingData(good), pub, Expect{}, "data after the tar end marker"},
		{"member after end marker", withMemberAfterEnd(t, good), pub, Expect{}, "data after the tar end marker"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "slot")
			_, err := Extract(bytes.NewReader(c.b), signing.Only(c.pub), c.expect, dest)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Extract: %v, want error containing %q", err, c.want)
			}
			if _, serr := os.Stat(dest); !os.IsNotExist(serr) {
				t.Fatalf("refused bundle left %s behind", dest)
			}
		})
	}
}

// withTrailingData is a good bundle with bytes appended after its end marker.
func withTrailingData(good []byte) []byte {
	return append(bytes.Clone(good), "#!/bin/sh\nrm -rf /\n"...)
}

// withMemberAfterEnd is a good bundle followed by a second tar stream whose
// member would replace the agent binary if anything ever read past the end
// marker.
func withMemberAfterEnd(t testing.TB, good []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(good)
	tw := tar.NewWriter(&buf)
	body := "#!/bin/sh\necho evil\n"
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: FilePrefix + "bin/edgenas", Mode: 0o755, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"", "..", "../x", "a/../../x", "/abs", "a//b", "a/./b", "a\\..\\b", "./a", "a/"} {
		if CheckPath(p) == nil {
			t.Errorf("CheckPath(%q) accepted", p)
		}
	}
	for _, p := range []string{"bin/edgenas", "lib/ld-linux-aarch64.so.1", "a..b"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
}

// FuzzRead feeds arbitrary bytes (seeded with a good bundle and its
// truncations) to the reader: it must never panic, and it may accept only a
// bundle every file of which hashed to its manifest's digest. (The reader
// is the one Extract uses; Verify skips the disk so the fuzzer runs fast.)
func FuzzRead(f *testing.F) {
	pub, priv := testKey(f)
	good := makeBundle(f, priv)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:600])
	f.Add(withTrailingData(good))
	f.Add(withMemberAfterEnd(f, good))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []File
		m, err := read(bytes.NewReader(b), signing.Only(pub), Expect{}, func(f File) (io.WriteCloser, error) {
			got = append(got, f)
			return nopWriteCloser{io.Discard}, nil
		})
		if err != nil {
			return
		}
		if len(got) != len(m.Files) {
			t.Fatalf("accepted a bundle with %d of %d files read", len(got), len(m.Files))
		}
		for _, f := range m.Files {
			if CheckPath(f.Path) != nil {
				t.Fatalf("accepted path %q", f.Path)
			}
		}
	})
}
