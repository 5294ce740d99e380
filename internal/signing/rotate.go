package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"edgenas/internal/atomicfile"
)

// Files of a key directory besides host.key and host.pub: the host's view of
// the set its devices trust, with the chain of rotations that led there, and
// the key a rotation in progress is switching to.
const (
	TrustFile   = "trust.json"
	nextKeyFile = "host.key.next"
	// retiringSuffix names an old private key kept until `keys rotate
	// --retire` drops it from the devices' set.
	retiringSuffix = ".key.retiring"
)

// HostTrust is the set a host's devices trust (or will, once they get the
// chain) and the signed rotations that lead to it, oldest first.
type HostTrust struct {
	Set   TrustSet
	Chain [][]byte
	// Signer is the public half of the key that signs from now on (host.pub).
	Signer ed25519.PublicKey
}

// LoadHostTrust reads DIR/trust.json; without one the set is the key in
// DIR/host.pub at serial 0 (what devices were provisioned with). An
// interrupted rotation is finished first.
func LoadHostTrust(dir string) (HostTrust, error) {
	if err := finishRotation(dir); err != nil {
		return HostTrust{}, err
	}
	pub, err := LoadPublic(filepath.Join(dir, PublicFile))
	if err != nil {
		return HostTrust{}, fmt.Errorf("%w (create the key with `edgenas keys init --dir %s`)", err, dir)
	}
	set, chain, ok, err := LoadTrust(filepath.Join(dir, TrustFile))
	if err != nil {
		return HostTrust{}, err
	}
	if ok {
		return HostTrust{Set: set, Chain: chain, Signer: pub}, nil
	}
	return HostTrust{Set: TrustSet{Keys: []ed25519.PublicKey{pub}}, Signer: pub}, nil
}

// RotateHostKey creates a new signing key in dir and a rotation, signed by
// the current key, to the current set plus the new key. The new key signs
// everything from then on (host.key, host.pub are replaced); the old one
// stays trusted by devices until RetireHostKeys. The returned chain is what
// devices are handed.
func RotateHostKey(dir string, now time.Time) (HostTrust, error) {
	ht, old, err := loadSigner(dir)
	if err != nil {
		return ht, err
	}
	if len(ht.Set.Keys) >= MaxTrustedKeys {
		return ht, fmt.Errorf("keys rotate: devices already trust %d keys (the most is %d); retire the old ones first with `keys rotate --retire`", len(ht.Set.Keys), MaxTrustedKeys)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return ht, fmt.Errorf("keys rotate: %w", err)
	}
	next := TrustSet{Serial: ht.Set.Serial + 1, Keys: append(append([]ed25519.PublicKey(nil), ht.Set.Keys...), pub)}
	env, err := SignRotation(old, next, now)
	if err != nil {
		return ht, fmt.Errorf("keys rotate: %w", err)
	}
	// The new key is on disk before the set that names it, so a crash in
	// between leaves a rotation finishRotation completes, never a trusted
	// key without its private half.
	if err := writePrivate(filepath.Join(dir, nextKeyFile), key); err != nil {
		return ht, fmt.Errorf("keys rotate: %w", err)
	}
	out := HostTrust{Set: next, Chain: appendChain(ht.Chain, env), Signer: pub}
	if err := SaveTrust(filepath.Join(dir, TrustFile), out.Set, out.Chain); err != nil {
		return ht, fmt.Errorf("keys rotate: %w", err)
	}
	if err := finishRotation(dir); err != nil {
		return out, err
	}
	return out, nil
}

// RetireHostKeys rotates the devices' set down to the current signing key
// alone, signed by it, and deletes the retired private keys kept since
// RotateHostKey. A deploy signed by a retired key is refused by every device
// that applied the rotation.
func RetireHostKeys(dir string, now time.Time) (HostTrust, error) {
	ht, key, err := loadSigner(dir)
	if err != nil {
		return ht, err
	}
	pub := key.Public().(ed25519.PublicKey)
	if len(ht.Set.Keys) == 1 {
		return ht, fmt.Errorf("keys rotate --retire: devices trust only the signing key %s; nothing to retire", KeyID(pub))
	}
	next := TrustSet{Serial: ht.Set.Serial + 1, Keys: []ed25519.PublicKey{pub}}
	env, err := SignRotation(key, next, now)
	if err != nil {
		return ht, fmt.Errorf("keys rotate --retire: %w", err)
	}
	out := HostTrust{Set: next, Chain: appendChain(ht.Chain, env), Signer: pub}
	if err := SaveTrust(filepath.Join(dir, TrustFile), out.Set, out.Chain); err != nil {
		return ht, fmt.Errorf("keys rotate --retire: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*"+retiringSuffix))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return out, fmt.Errorf("keys rotate --retire: %w", err)
		}
	}
	return out, nil
}

// loadSigner loads the host's trust record and signing key, which must be
// in the set devices trust (else they would refuse what it signs).
func loadSigner(dir string) (HostTrust, ed25519.PrivateKey, error) {
	ht, err := LoadHostTrust(dir)
	if err != nil {
		return ht, nil, err
	}
	key, err := LoadPrivate(filepath.Join(dir, PrivateFile))
	if err != nil {
		return ht, nil, err
	}
	if id := KeyID(key.Public().(ed25519.PublicKey)); ht.Set.Key(id) == nil {
		return ht, nil, fmt.Errorf("keys rotate: the signing key %s is not in the trusted set %s of %s", id, ht.Set.describe(), filepath.Join(dir, TrustFile))
	}
	return ht, key, nil
}

// appendChain adds env, keeping the newest MaxChain entries: a device that
// missed more rotations than that is re-provisioned with the current key.
func appendChain(chain [][]byte, env []byte) [][]byte {
	out := append(append([][]byte(nil), chain...), env)
	if len(out) > MaxChain {
		out = out[len(out)-MaxChain:]
	}
	return out
}

// finishRotation completes a rotation whose new key and set were written:
// the old signing key is kept as host-ID.key.retiring and the new one becomes
// host.key and host.pub. A next key the set does not name is from a rotation
// that never got as far as its set; it is removed.
func finishRotation(dir string) error {
	nextPath := filepath.Join(dir, nextKeyFile)
	key, err := LoadPrivate(nextPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keys rotate: unfinished rotation: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	set, _, ok, err := LoadTrust(filepath.Join(dir, TrustFile))
	if err != nil {
		return err
	}
	if !ok || set.Key(KeyID(pub)) == nil {
		if err := os.Remove(nextPath); err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		return nil
	}
	cur := filepath.Join(dir, PrivateFile)
	if old, err := LoadPrivate(cur); err == nil {
		oldID := KeyID(old.Public().(ed25519.PublicKey))
		if err := writePrivate(filepath.Join(dir, "host-"+oldID+retiringSuffix), old); err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
	}
	if err := writePrivate(cur, key); err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, PublicFile), EncodePublic(pub)); err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if err := os.Remove(nextPath); err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	return nil
}

// writePrivate writes a private key file atomically with mode 0600.
func writePrivate(path string, key ed25519.PrivateKey) error {
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: privType, Bytes: key.Seed()})); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
