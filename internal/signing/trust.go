package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"edgenas/internal/atomicfile"
)

// RotationType marks the payload of a key rotation, so a signed rotation
// can never be read as any other signed payload (and vice versa).
const RotationType = "edgenas-key-rotation"

// Bounds on what a rotation may carry: a device trusts a handful of keys,
// and a chain long enough for several missed rotations.
const (
	MaxTrustedKeys = 8
	MaxChain       = 16
	// MaxTrustFile bounds the trust file a device or host reads.
	MaxTrustFile = 256 << 10
)

// ErrReplay: a rotation older than (or conflicting with) the set in force.
var ErrReplay = errors.New("replayed rotation")

// TrustSet is the set of host keys a device accepts signatures from, and
// the serial of the rotation that made it (0: the key it was provisioned
// with). Serials only grow, so an old rotation cannot be replayed.
type TrustSet struct {
	Serial uint64
	Keys   []ed25519.PublicKey
}

// Key returns the key of the set whose KeyID is id, or nil.
func (s TrustSet) Key(id string) ed25519.PublicKey {
	for _, k := range s.Keys {
		if KeyID(k) == id {
			return k
		}
	}
	return nil
}

// IDs lists the key ids of the set.
func (s TrustSet) IDs() []string {
	out := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		out[i] = KeyID(k)
	}
	return out
}

func (s TrustSet) describe() string {
	if len(s.Keys) == 0 {
		return "no key"
	}
	return "[" + strings.Join(s.IDs(), " ") + "]"
}

// Rotation is the signed payload that replaces a device's trusted set: the
// whole new set with a higher serial, signed by a key of the set in force.
// Adding a key is a rotation to {old, new} signed by old; retiring the old
// key is a later rotation to {new} signed by new.
type Rotation struct {
	Type    string    `json:"type"`
	Serial  uint64    `json:"serial"`
	Keys    [][]byte  `json:"keys"`
	Created time.Time `json:"created"`
}

// validate checks the fields of a rotation whose signature verified.
func (r *Rotation) validate() (TrustSet, error) {
	if r.Type != RotationType {
		return TrustSet{}, fmt.Errorf("rotation: %w: type %q, want %q", ErrMalformed, r.Type, RotationType)
	}
	if r.Serial == 0 {
		return TrustSet{}, fmt.Errorf("rotation: %w: serial 0, want >= 1", ErrMalformed)
	}
	if len(r.Keys) == 0 || len(r.Keys) > MaxTrustedKeys {
		return TrustSet{}, fmt.Errorf("rotation %d: %w: %d keys, want 1..%d", r.Serial, ErrMalformed, len(r.Keys), MaxTrustedKeys)
	}
	set := TrustSet{Serial: r.Serial}
	for i, k := range r.Keys {
		if len(k) != ed25519.PublicKeySize {
			return TrustSet{}, fmt.Errorf("rotation %d: %w: key %d has %d bytes, want %d", r.Serial, ErrMalformed, i, len(k), ed25519.PublicKeySize)
		}
		if set.Key(KeyID(k)) != nil {
			return TrustSet{}, fmt.Errorf("rotation %d: %w: key %s listed twice", r.Serial, ErrMalformed, KeyID(k))
		}
		set.Keys = append(set.Keys, ed25519.PublicKey(k))
	}
	return set, nil
}

// SignRotation signs a rotation to set with key (which must belong to the
// set the devices trust now, or they refuse it).
func SignRotation(key ed25519.PrivateKey, set TrustSet, created time.Time) ([]byte, error) {
	r := Rotation{Type: RotationType, Serial: set.Serial, Created: created.UTC()}
	for _, k := range set.Keys {
		r.Keys = append(r.Keys, []byte(k))
	}
	if _, err := r.validate(); err != nil {
		return nil, err
	}
	return SignJSON(key, r)
}

// Next verifies one signed rotation against s and returns the set it
// installs. A rotation whose serial is not above s.Serial wraps ErrReplay,
// except the very rotation that made s (a re-delivery), which returns s
// and changed == false.
func (s TrustSet) Next(envelope []byte) (next TrustSet, changed bool, err error) {
	var r Rotation
	if err := s.OpenJSON(envelope, &r); err != nil {
		return s, false, fmt.Errorf("rotation: %w", err)
	}
	set, err := r.validate()
	if err != nil {
		return s, false, err
	}
	if set.Serial <= s.Serial {
		if set.Serial == s.Serial && sameKeys(set, s) {
			return s, false, nil
		}
		return s, false, fmt.Errorf("rotation %d: %w: this device is at serial %d", set.Serial, ErrReplay, s.Serial)
	}
	return set, true, nil
}

// Apply runs a chain of rotations (oldest first) from s: each one the set
// reached so far can verify and that is newer moves it on. Entries signed by
// a key the set does not trust are skipped, because a device provisioned
// with a newer key cannot verify the older links; they are returned as
// skipped so the caller can say so. err is set only when no entry moved
// the set and at least one was refused (nothing was trusted).
func (s TrustSet) Apply(chain [][]byte) (next TrustSet, skipped []error, err error) {
	if len(chain) == 0 || len(chain) > MaxChain {
		return s, nil, fmt.Errorf("rotation chain: %w: %d entries, want 1..%d", ErrMalformed, len(chain), MaxChain)
	}
	next = s
	moved := false
	for i, env := range chain {
		n, changed, err := next.Next(env)
		if err != nil {
			if errors.Is(err, ErrReplay) {
				continue // an older link this device has passed
			}
			skipped = append(skipped, fmt.Errorf("chain entry %d: %w", i, err))
			continue
		}
		if changed {
			next, moved = n, true
		}
	}
	if !moved && len(skipped) > 0 {
		return s, skipped, skipped[len(skipped)-1]
	}
	return next, skipped, nil
}

func sameKeys(a, b TrustSet) bool {
	if len(a.Keys) != len(b.Keys) {
		return false
	}
	for _, k := range a.Keys {
		if b.Key(KeyID(k)) == nil {
			return false
		}
	}
	return true
}

// trustFile is the on-disk form of a trusted set (a device's DATA/trust.json,
// the host's KEYDIR/trust.json), with the chain of signed rotations that led
// to it so the host can hand the whole chain to a device that missed links.
type trustFile struct {
	Serial uint64   `json:"serial"`
	Keys   [][]byte `json:"keys"`
	Chain  [][]byte `json:"chain,omitempty"`
}

// LoadTrust reads a trust file; a missing file returns ok == false.
func LoadTrust(path string) (set TrustSet, chain [][]byte, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return TrustSet{}, nil, false, nil
	}
	if err != nil {
		return TrustSet{}, nil, false, fmt.Errorf("trust file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTrustFile+1))
	if err != nil {
		return TrustSet{}, nil, false, fmt.Errorf("trust file: %w", err)
	}
	n := len(b)
	if n > MaxTrustFile {
		return TrustSet{}, nil, false, fmt.Errorf("trust file %s: %w: larger than %d bytes", path, ErrMalformed, MaxTrustFile)
	}
	var tf trustFile
	if err := decodeStrict(b[:n], &tf); err != nil {
		return TrustSet{}, nil, false, fmt.Errorf("trust file %s: %w", path, err)
	}
	r := Rotation{Type: RotationType, Serial: max(tf.Serial, 1), Keys: tf.Keys}
	set, err = r.validate()
	if err != nil {
		return TrustSet{}, nil, false, fmt.Errorf("trust file %s: %w", path, err)
	}
	if len(tf.Chain) > MaxChain {
		return TrustSet{}, nil, false, fmt.Errorf("trust file %s: %w: chain of %d entries, want at most %d", path, ErrMalformed, len(tf.Chain), MaxChain)
	}
	set.Serial = tf.Serial
	return set, tf.Chain, true, nil
}

// SaveTrust writes a trust file atomically.
func SaveTrust(path string, set TrustSet, chain [][]byte) error {
	tf := trustFile{Serial: set.Serial, Chain: chain}
	for _, k := range set.Keys {
		tf.Keys = append(tf.Keys, []byte(k))
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return fmt.Errorf("trust file: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("trust file: %w", err)
	}
	return nil
}

// Keyring is a device's trusted set, safe for concurrent use: installs
// verify against it while rotations arriving over MQTT replace it. Every
// change is written to its file atomically before it takes effect.
type Keyring struct {
	path string
	mu   sync.Mutex
	set  TrustSet
}

// OpenKeyring loads the trusted set from path, or, when the file does not
// exist yet, starts from the provisioned key (nil: trust nothing). Once a
// rotation was applied the file wins over the provisioned key: that key may
// have been retired by a rotation it signed itself. path "" keeps the set in
// memory only.
func OpenKeyring(path string, provisioned ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{path: path}
	if provisioned != nil {
		k.set = TrustSet{Keys: []ed25519.PublicKey{provisioned}}
	}
	if path == "" {
		return k, nil
	}
	set, _, ok, err := LoadTrust(path)
	if err != nil {
		return nil, err
	}
	if ok {
		k.set = set
	}
	return k, nil
}

// Set returns the trusted set in force.
func (k *Keyring) Set() TrustSet {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.set
}

// OpenJSON verifies an envelope against the set in force and decodes it.
func (k *Keyring) OpenJSON(envelope []byte, v any) error {
	return k.Set().OpenJSON(envelope, v)
}

// Rotate applies a chain of signed rotations (see TrustSet.Apply), persists
// the new set, then makes it the one in force. It returns the set in force
// afterwards, whether it changed, and the entries that were skipped.
func (k *Keyring) Rotate(chain [][]byte) (TrustSet, bool, []error, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	next, skipped, err := k.set.Apply(chain)
	if err != nil {
		return k.set, false, skipped, err
	}
	if next.Serial == k.set.Serial {
		return k.set, false, skipped, nil
	}
	if k.path != "" {
		if err := SaveTrust(k.path, next, nil); err != nil {
			return k.set, false, skipped, err
		}
	}
	k.set = next
	return next, true, skipped, nil
}
