package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"edgenas/internal/signing"
)

// authScheme names the Authorization scheme of serve's API: the header
// carries a signed envelope (internal/signing, the host key that signs
// manifests) of a claim binding method, path, body hash, time and a nonce.
// No secret crosses the wire or appears in a process's arguments, and a
// captured header cannot be replayed.
const authScheme = "Edgenas-Signed "

// Freshness bounds: a claim older or newer than claimSkew is refused, and
// nonces are remembered for twice that, at most maxNonces of them.
const (
	claimSkew = time.Minute
	maxNonces = 1 << 14
	// maxAuthHeader bounds the Authorization header read.
	maxAuthHeader = 4096
)

// claim is what a request's signature covers.
type claim struct {
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Body   string    `json:"body_sha256"`
	Time   time.Time `json:"time"`
	Nonce  string    `json:"nonce"`
}

// errUnauthorized is wrapped by every refusal of verifier.check.
var errUnauthorized = errors.New("unauthorized")

// SignRequest adds the Authorization header for a request whose body hashes
// to bodySHA (hex; sha256 of the empty body for none).
func SignRequest(req *http.Request, key ed25519.PrivateKey, bodySHA string) error {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	env, err := signing.SignJSON(key, claim{Method: req.Method, Path: req.URL.RequestURI(), Body: bodySHA,
		Time: time.Now().UTC(), Nonce: hex.EncodeToString(nonce)})
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	req.Header.Set("Authorization", authScheme+base64.StdEncoding.EncodeToString(env))
	return nil
}

// emptySHA is the sha256 of an empty body.
var emptySHA = hex.EncodeToString(func() []byte { h := sha256.Sum256(nil); return h[:] }())

// verifier checks request claims against the host's public key.
type verifier struct {
	pub ed25519.PublicKey
	now func() time.Time

	mu     sync.Mutex
	nonces map[string]time.Time
}

func newVerifier(pub ed25519.PublicKey) *verifier {
	return &verifier{pub: pub, now: time.Now, nonces: map[string]time.Time{}}
}

// check verifies r's Authorization header and returns the body hash the
// signer claimed (the caller compares it with the body it reads).
func (v *verifier) check(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fmt.Errorf("%w: no Authorization header (requests are signed with the host key)", errUnauthorized)
	}
	if len(h) > maxAuthHeader {
		return "", fmt.Errorf("%w: Authorization header of %d bytes, limit %d", errUnauthorized, len(h), maxAuthHeader)
	}
	b64, ok := strings.CutPrefix(h, authScheme)
	if !ok {
		return "", fmt.Errorf("%w: Authorization scheme is not %q", errUnauthorized, strings.TrimSpace(authScheme))
	}
	env, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("%w: Authorization: %v", errUnauthorized, err)
	}
	var c claim
	if err := signing.OpenJSON(v.pub, env, &c); err != nil {
		return "", fmt.Errorf("%w: %v", errUnauthorized, err)
	}
	if c.Method != r.Method || c.Path != r.URL.RequestURI() {
		return "", fmt.Errorf("%w: signed for %s %s, not %s %s", errUnauthorized, c.Method, c.Path, r.Method, r.URL.RequestURI())
	}
	now := v.now()
	if d := now.Sub(c.Time); d > claimSkew || d < -claimSkew {
		return "", fmt.Errorf("%w: signed at %s, %s from this host's clock (limit %s)", errUnauthorized,
			c.Time.Format(time.RFC3339), d.Round(time.Second), claimSkew)
	}
	if len(c.Nonce) != 32 || len(c.Body) != 64 {
		return "", fmt.Errorf("%w: malformed nonce or body hash", errUnauthorized)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, t := range v.nonces {
		if now.Sub(t) > 2*claimSkew {
			delete(v.nonces, n)
		}
	}
	if _, seen := v.nonces[c.Nonce]; seen {
		return "", fmt.Errorf("%w: replayed request (nonce already used)", errUnauthorized)
	}
	if len(v.nonces) >= maxNonces {
		return "", fmt.Errorf("%w: more than %d requests in %s; try again later", errUnauthorized, maxNonces, 2*claimSkew)
	}
	v.nonces[c.Nonce] = now
	return c.Body, nil
}
