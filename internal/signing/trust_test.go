package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func rotation(t testing.TB, signer ed25519.PrivateKey, serial uint64, keys ...ed25519.PublicKey) []byte {
	t.Helper()
	env, err := SignRotation(signer, TrustSet{Serial: serial, Keys: keys}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestTrustSetApply walks rotations from a provisioned key: adding a key
// signed by the old one, retiring the old one signed by the new, and every
// way a rotation must be refused.
func TestTrustSetApply(t *testing.T) {
	oldPub, oldKey := newKey(t)
	newPub, nextKey := newKey(t)
	evilPub, evilKey := newKey(t)
	start := TrustSet{Keys: []ed25519.PublicKey{oldPub}}
	add := rotation(t, oldKey, 1, oldPub, newPub)
	retire := rotation(t, nextKey, 2, newPub)
	tests := []struct {
		name       string
		from       TrustSet
		chain      [][]byte
		wantSerial uint64
		wantKeys   []ed25519.PublicKey
		wantErr    error // nil: applies
	}{
		{name: "add new key signed by old", from: start, chain: [][]byte{add}, wantSerial: 1, wantKeys: []ed25519.PublicKey{oldPub, newPub}},
		{name: "whole chain from provisioned", from: start, chain: [][]byte{add, retire}, wantSerial: 2, wantKeys: []ed25519.PublicKey{newPub}},
		{name: "retire alone needs the new key", from: start, chain: [][]byte{retire}, wantErr: ErrWrongKey},
		{name: "device provisioned with the new key skips the old link", from: TrustSet{Keys: []ed25519.PublicKey{newPub}},
			chain: [][]byte{add, retire}, wantSerial: 2, wantKeys: []ed25519.PublicKey{newPub}},
		{name: "signed by an untrusted key", from: start, chain: [][]byte{rotation(t, evilKey, 5, evilPub)}, wantErr: ErrWrongKey},
		{name: "replay of an older serial", from: TrustSet{Serial: 2, Keys: []ed25519.PublicKey{oldPub}}, chain: [][]byte{add}, wantSerial: 2,
			wantKeys: []ed25519.PublicKey{oldPub}},
		{name: "re-delivery of the applied rotation", from: TrustSet{Serial: 1, Keys: []ed25519.PublicKey{oldPub, newPub}}, chain: [][]byte{add},
			wantSerial: 1, wantKeys: []ed25519.PublicKey{oldPub, newPub}},
		{name: "manifest envelope is not a rotation", from: start, chain: [][]byte{mustSign(t, oldKey, []byte(`{"kind":"model"}`))}, wantErr: ErrMalformed},
		{name: "empty chain", from: start, chain: nil, wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.from.Apply(tc.chain)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Apply error %v, want %v", err, tc.wantErr)
				}
				if got.Serial != tc.from.Serial {
					t.Fatalf("a refused rotation moved the set to serial %d", got.Serial)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got.Serial != tc.wantSerial || !sameKeys(got, TrustSet{Keys: tc.wantKeys}) {
				t.Fatalf("set %d %v, want %d %v", got.Serial, got.IDs(), tc.wantSerial, TrustSet{Keys: tc.wantKeys}.IDs())
			}
		})
	}
	// A rotation at the applied serial with other keys is a conflict, not a re-delivery.
	if _, _, err := (TrustSet{Serial: 1, Keys: []ed25519.PublicKey{oldPub}}).Next(add); !errors.Is(err, ErrReplay) {
		t.Errorf("conflicting rotation at the same serial: %v, want ErrReplay", err)
	}
}

// TestKeyringPersists: a rotation is on disk before it is in force, and a
// reopened keyring trusts the rotated set over the provisioned key.
func TestKeyringPersists(t *testing.T) {
	oldPub, oldKey := newKey(t)
	newPub, nextKey := newKey(t)
	path := filepath.Join(t.TempDir(), "trust.json")
	k, err := OpenKeyring(path, oldPub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a keyring without rotation wrote %s: %v", path, err)
	}
	set, changed, _, err := k.Rotate([][]byte{rotation(t, oldKey, 1, oldPub, newPub), rotation(t, nextKey, 2, newPub)})
	if err != nil || !changed || set.Serial != 2 {
		t.Fatalf("Rotate = %d %v %v", set.Serial, changed, err)
	}
	k2, err := OpenKeyring(path, oldPub)
	if err != nil {
		t.Fatal(err)
	}
	if got := k2.Set(); got.Serial != 2 || got.Key(KeyID(oldPub)) != nil || got.Key(KeyID(newPub)) == nil {
		t.Fatalf("reopened set %d %v", got.Serial, got.IDs())
	}
	env := mustSign(t, oldKey, []byte(`{}`))
	var v struct{}
	if err := k2.OpenJSON(env, &v); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("retired key's envelope: %v, want ErrWrongKey", err)
	}
	if err := os.WriteFile(path, []byte(`{"serial":3,"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyring(path, oldPub); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty key list: %v, want ErrMalformed", err)
	}
}

// TestHostRotation runs the host side: rotate, retire, and what each leaves
// in the key directory.
func TestHostRotation(t *testing.T) {
	dir := t.TempDir()
	first, err := GenerateKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RetireHostKeys(dir, time.Now()); err == nil {
		t.Fatal("retiring with a single trusted key succeeded")
	}
	ht, err := RotateHostKey(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadPublic(filepath.Join(dir, PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	if second.Equal(first) || ht.Set.Serial != 1 || len(ht.Set.Keys) != 2 || len(ht.Chain) != 1 {
		t.Fatalf("after rotate: serial %d keys %v chain %d", ht.Set.Serial, ht.Set.IDs(), len(ht.Chain))
	}
	if ms, _ := filepath.Glob(filepath.Join(dir, "*"+retiringSuffix)); len(ms) != 1 {
		t.Fatalf("old key kept as %v, want one .retiring file", ms)
	}
	ht, err = RetireHostKeys(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ht.Set.Serial != 2 || len(ht.Set.Keys) != 1 || !ht.Set.Keys[0].Equal(second) || len(ht.Chain) != 2 {
		t.Fatalf("after retire: serial %d keys %v chain %d", ht.Set.Serial, ht.Set.IDs(), len(ht.Chain))
	}
	if ms, _ := filepath.Glob(filepath.Join(dir, "*"+retiringSuffix)); len(ms) != 0 {
		t.Fatalf("retired private keys left: %v", ms)
	}
	// A device provisioned with the first key follows the whole chain.
	dev, _, err := TrustSet{Keys: []ed25519.PublicKey{first}}.Apply(ht.Chain)
	if err != nil || dev.Serial != 2 || dev.Key(KeyID(second)) == nil || dev.Key(KeyID(first)) != nil {
		t.Fatalf("device after the chain: %d %v %v", dev.Serial, dev.IDs(), err)
	}
}

// TestFinishRotation: a rotation cut after its set was saved is completed
// by the next load; one cut before is dropped.
func TestFinishRotation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		savedSet  bool
		wantNewPK bool
	}{
		{name: "cut after the set was saved", savedSet: true, wantNewPK: true},
		{name: "cut before the set was saved", savedSet: false, wantNewPK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := GenerateKey(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			firstKey, _ := LoadPrivate(filepath.Join(dir, PrivateFile))
			pub, key := newKey(t)
			if err := writePrivate(filepath.Join(dir, nextKeyFile), key); err != nil {
				t.Fatal(err)
			}
			if tc.savedSet {
				env := rotation(t, firstKey, 1, first, pub)
				if err := SaveTrust(filepath.Join(dir, TrustFile), TrustSet{Serial: 1, Keys: []ed25519.PublicKey{first, pub}}, [][]byte{env}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := LoadHostTrust(dir); err != nil {
				t.Fatal(err)
			}
			cur, err := LoadPublic(filepath.Join(dir, PublicFile))
			if err != nil {
				t.Fatal(err)
			}
			if cur.Equal(pub) != tc.wantNewPK {
				t.Fatalf("host.pub is the new key: %v, want %v", cur.Equal(pub), tc.wantNewPK)
			}
			if _, err := os.Stat(filepath.Join(dir, nextKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left: %v", nextKeyFile, err)
			}
		})
	}
}

// FuzzLoadTrust: any trust file is loaded or refused with an error, never
// a panic, and a loaded one holds a valid set.
func FuzzLoadTrust(f *testing.F) {
	pub, _ := newKey(f)
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.json")
	if err := SaveTrust(p, TrustSet{Serial: 3, Keys: []ed25519.PublicKey{pub}}, [][]byte{[]byte(`{}`)}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	f.Add([]byte(`{"serial":1,"keys":["AAAA"]}`))
	f.Add([]byte(`{"serial":1,"keys":[],"extra":1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "trust.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		set, _, ok, err := LoadTrust(path)
		if err != nil {
			return
		}
		if !ok || len(set.Keys) == 0 || len(set.Keys) > MaxTrustedKeys {
			t.Fatalf("loaded an invalid set: ok %v, %d keys", ok, len(set.Keys))
		}
	})
}

// FuzzApply: any chain is applied or refused, never a panic, and only a
// chain signed by the trusted key moves the set.
func FuzzApply(f *testing.F) {
	pub, key := newKey(f)
	other, _ := newKey(f)
	f.Add(rotation(f, key, 1, pub, other))
	f.Add([]byte(`{"key_id":"x","payload":"e30=","signature":""}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, env []byte) {
		start := TrustSet{Keys: []ed25519.PublicKey{pub}}
		got, _, err := start.Apply([][]byte{env})
		if err != nil && got.Serial != 0 {
			t.Fatalf("refused chain moved the set to %d", got.Serial)
		}
	})
}
