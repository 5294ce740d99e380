package signing

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignOpen(t *testing.T) {
	dir := t.TempDir()
	pub, err := GenerateKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(dir, false); err == nil {
		t.Fatal("GenerateKey overwrote an existing key without force")
	}
	key, err := LoadPrivate(filepath.Join(dir, PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	pub2, err := LoadPublic(filepath.Join(dir, PublicFile))
	if err != nil || !pub2.Equal(pub) {
		t.Fatalf("LoadPublic: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, PrivateFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode().Perm())
	}
	otherDir := t.TempDir()
	other, err := GenerateKey(otherDir, false)
	if err != nil {
		t.Fatal(err)
	}

	type manifest struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	}
	env, err := SignJSON(key, manifest{"m", 3})
	if err != nil {
		t.Fatal(err)
	}
	var got manifest
	if err := OpenJSON(pub, env, &got); err != nil || got.Version != 3 {
		t.Fatalf("OpenJSON = %+v, %v", got, err)
	}

	tamper := func(f func(e *Envelope)) []byte {
		var e Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	cases := []struct {
		name string
		pub  []byte
		env  []byte
		want error
	}{
		{"wrong key", other, env, ErrWrongKey},
		{"tampered payload", pub, tamper(func(e *Envelope) { e.Payload[len(e.Payload)-2] ^= 1 }), ErrBadSignature},
		{"tampered signature", pub, tamper(func(e *Envelope) { e.Signature[0] ^= 1 }), ErrBadSignature},
		{"key id swapped", pub, tamper(func(e *Envelope) { e.KeyID = KeyID(other) }), ErrWrongKey},
		{"truncated", pub, env[:len(env)/2], ErrMalformed},
		{"short signature", pub, tamper(func(e *Envelope) { e.Signature = e.Signature[:10] }), ErrMalformed},
		{"empty", pub, nil, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.pub, c.env)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
		})
	}
	if err := OpenJSON(pub, mustSign(t, key, []byte(`{"name":"m","version":1,"extra":1}`)), &got); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

func mustSign(t *testing.T, key []byte, p []byte) []byte {
	b, err := Sign(key, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	os.WriteFile(p, []byte("not a key"), 0o600)
	if _, err := LoadPublic(p); !errors.Is(err, ErrMalformed) {
		t.Errorf("LoadPublic garbage: %v", err)
	}
	if _, err := LoadPrivate(p); !errors.Is(err, ErrMalformed) {
		t.Errorf("LoadPrivate garbage: %v", err)
	}
	if _, err := LoadPublic(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadPublic of a missing file succeeded")
	}
}
