package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifierCheck: only a fresh request signed by the host key for this
// very method, path and body passes, once.
func TestVerifierCheck(t *testing.T) {
	key, other := newKey(t), newKey(t)
	v := newVerifier(key.Public().(ed25519.PublicKey))
	signed := func(k ed25519.PrivateKey, method, path string) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		if err := SignRequest(r, k, emptySHA); err != nil {
			t.Fatal(err)
		}
		return r
	}
	replayed := signed(key, http.MethodGet, "/api/v1/rollouts/latest")
	if _, err := v.check(replayed); err != nil {
		t.Fatalf("first use: %v", err)
	}
	cases := []struct {
		name string
		req  func() *http.Request
		skew time.Duration // the verifier's clock ahead of the signer's
		want string        // "" accepts
	}{
		{name: "signed", req: func() *http.Request { return signed(key, http.MethodGet, "/api/v1/rollouts/x") }},
		{name: "unsigned", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/api/v1/rollouts/x", nil) },
			want: "no Authorization"},
		{name: "basic auth", want: "scheme", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.SetBasicAuth("host", "secret")
			return r
		}},
		{name: "not base64", want: "Authorization", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", authScheme+"!!!")
			return r
		}},
		{name: "oversized", want: "limit", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", authScheme+strings.Repeat("A", maxAuthHeader))
			return r
		}},
		{name: "another key", want: "key", req: func() *http.Request { return signed(other, http.MethodGet, "/api/v1/rollouts/x") }},
		{name: "other path", want: "signed for", req: func() *http.Request {
			r := signed(key, http.MethodGet, "/api/v1/rollouts/x")
			r.URL.Path = "/api/v1/rollouts/y"
			return r
		}},
		{name: "other method", want: "signed for", req: func() *http.Request {
			r := signed(key, http.MethodGet, "/api/v1/rollouts/x")
			r.Method = http.MethodPost
			return r
		}},
		{name: "stale", skew: 2 * claimSkew, want: "clock", req: func() *http.Request { return signed(key, http.MethodGet, "/a") }},
		{name: "replayed", want: "replayed", req: func() *http.Request { return replayed }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v.now = func() time.Time { return time.Now().Add(c.skew) }
			_, err := v.check(c.req())
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// FuzzVerifierCheck: no Authorization header makes check panic, and none
// made up without the key passes.
func FuzzVerifierCheck(f *testing.F) {
	key := newKey(f)
	r := httptest.NewRequest(http.MethodGet, "/api/v1/health", nil)
	if err := SignRequest(r, key, emptySHA); err != nil {
		f.Fatal(err)
	}
	f.Add(r.Header.Get("Authorization"))
	f.Add(authScheme + "e30=")
	f.Add(authScheme)
	f.Add("Bearer x")
	v := newVerifier(newKey(f).Public().(ed25519.PublicKey))
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/health", nil)
		r.Header.Set("Authorization", h)
		if _, err := v.check(r); err == nil {
			t.Fatalf("accepted %q", h)
		}
	})
}
