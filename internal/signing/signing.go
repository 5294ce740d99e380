// Package signing holds the host's Ed25519 key and the signed envelope every
// artifact travels in (model manifests, agent bundles). An agent is given the
// host's public key once and refuses anything the key did not sign.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"edgenas/internal/atomicfile"
)

// File names written by GenerateKey inside its directory.
const (
	PrivateFile = "host.key"
	PublicFile  = "host.pub"
)

const (
	privType = "EDGENAS ED25519 PRIVATE KEY"
	pubType  = "EDGENAS ED25519 PUBLIC KEY"
)

// Errors a verifier returns, wrapped with the reason; test with errors.Is.
var (
	// ErrWrongKey: the envelope names a key other than the verifier's.
	ErrWrongKey = errors.New("signed by another key")
	// ErrBadSignature: the signature does not match the payload.
	ErrBadSignature = errors.New("bad signature")
	// ErrMalformed: the envelope or key file cannot be parsed.
	ErrMalformed = errors.New("malformed")
)

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// GenerateKey creates a fresh key pair in dir (host.key mode 0600, host.pub).
// It refuses to overwrite an existing private key unless force is set, because
// replacing it orphans every agent that trusts the old public key.
func GenerateKey(dir string, force bool) (ed25519.PublicKey, error) {
	priv := filepath.Join(dir, PrivateFile)
	if _, err := os.Stat(priv); err == nil && !force {
		return nil, fmt.Errorf("keys init: %s already exists (agents trust its public key; use --force to replace it)", priv)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys init: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys init: %w", err)
	}
	if err := writePrivate(priv, key); err != nil {
		return nil, fmt.Errorf("keys init: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, PublicFile), EncodePublic(pub)); err != nil {
		return nil, fmt.Errorf("keys init: %w", err)
	}
	return pub, nil
}

// EncodePublic renders a public key in the PEM form LoadPublic reads.
func EncodePublic(pub ed25519.PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pubType, Bytes: pub})
}

// ParsePublic reads a public key in the form EncodePublic writes.
func ParsePublic(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pubType || len(blk.Bytes) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %w: want a %q PEM block of %d bytes", ErrMalformed, pubType, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(blk.Bytes), nil
}

// LoadPublic reads a public key file (host.pub).
func LoadPublic(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	k, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return k, nil
}

// LoadPrivate reads a private key file (host.key).
func LoadPrivate(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != privType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("load %s: %w: want a %q PEM block of %d bytes", path, ErrMalformed, privType, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// Envelope is a signed payload as it travels: the payload bytes exactly as
// signed, the signer's key id and the Ed25519 signature over
// "edgenas-signed-v1\x00" + payload (the prefix keeps a signature from being
// valid for any other use of the same key).
type Envelope struct {
	KeyID     string `json:"key_id"`
	Payload   []byte `json:"payload"`
	Signature []byte `json:"signature"`
}

const domain = "edgenas-signed-v1\x00"

func message(payload []byte) []byte {
	return append([]byte(domain), payload...)
}

// Sign wraps payload in an envelope signed by key and returns it as JSON.
func Sign(key ed25519.PrivateKey, payload []byte) ([]byte, error) {
	env := Envelope{
		KeyID:     KeyID(key.Public().(ed25519.PublicKey)),
		Payload:   payload,
		Signature: ed25519.Sign(key, message(payload)),
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return b, nil
}

// SignJSON marshals v and signs the bytes.
func SignJSON(key ed25519.PrivateKey, v any) ([]byte, error) {
	p, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return Sign(key, p)
}

// Open checks an envelope against pub and returns its payload. The signature
// is checked before anything in the payload is looked at.
func Open(pub ed25519.PublicKey, envelope []byte) ([]byte, error) {
	return TrustSet{Keys: []ed25519.PublicKey{pub}}.Open(envelope)
}

// Open checks an envelope against the key of the set it names and returns
// its payload; a key outside the set gives ErrWrongKey.
func (s TrustSet) Open(envelope []byte) ([]byte, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(envelope))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("signed envelope: %w: %v", ErrMalformed, err)
	}
	if len(env.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signed envelope: %w: signature of %d bytes, want %d", ErrMalformed, len(env.Signature), ed25519.SignatureSize)
	}
	pub := s.Key(env.KeyID)
	if pub == nil {
		return nil, fmt.Errorf("signed envelope: %w: key %q, this device trusts %s", ErrWrongKey, env.KeyID, s.describe())
	}
	if !ed25519.Verify(pub, message(env.Payload), env.Signature) {
		return nil, fmt.Errorf("signed envelope: %w (payload or signature altered)", ErrBadSignature)
	}
	return env.Payload, nil
}

// OpenJSON checks an envelope against the set and decodes its payload
// strictly into v (see the package-level OpenJSON).
func (s TrustSet) OpenJSON(envelope []byte, v any) error {
	p, err := s.Open(envelope)
	if err != nil {
		return err
	}
	return decodeStrict(p, v)
}

func decodeStrict(p []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("signed payload: %w: %v", ErrMalformed, err)
	}
	return nil
}

// OpenJSON checks an envelope and decodes its payload into v, refusing unknown
// fields so a manifest from a newer host is not half-understood.
func OpenJSON(pub ed25519.PublicKey, envelope []byte, v any) error {
	return Only(pub).OpenJSON(envelope, v)
}

// Verifier checks a signed envelope and decodes its payload. A TrustSet, a
// device's live *Keyring and Only(key) all are one, so code that verifies
// (bundles, manifests) follows key rotations without knowing about them.
type Verifier interface {
	OpenJSON(envelope []byte, v any) error
}

// Only is the set trusting one key (nil: trusting nothing).
func Only(pub ed25519.PublicKey) TrustSet {
	if pub == nil {
		return TrustSet{}
	}
	return TrustSet{Keys: []ed25519.PublicKey{pub}}
}

// Fingerprint is a short human-readable form of a public key for logs and
// `keys show`: the key id and the base64 key.
func Fingerprint(pub ed25519.PublicKey) string {
	return KeyID(pub) + " " + base64.StdEncoding.EncodeToString(pub)
}
