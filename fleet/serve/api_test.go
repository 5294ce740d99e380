package serve

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"edgenas/fleet/rollout"
)

// FuzzRegisterBody: whatever a signed registration carries, serve answers
// with a 4xx and a reason, never a panic or a 5xx, and stores nothing (no
// made-up body holds a manifest signed by the host key).
func FuzzRegisterBody(f *testing.F) {
	key := newKey(f)
	st, err := rollout.OpenStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	s := &server{cfg: Config{Trust: key.Public().(ed25519.PublicKey)}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		st: st, auth: newVerifier(key.Public().(ed25519.PublicKey)), mux: http.NewServeMux(), base: "http://127.0.0.1:1",
		running: map[string]*engineRun{}}
	s.routes()
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"r1","phase":"canary","timeout_secs":1,"devices":[{"agent":"a","state":"pending"}]}`))
	f.Add([]byte(`{"id":"latest","manifest":"e30="}`))
	f.Add([]byte(`{"id":"../x"}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/rollouts", bytes.NewReader(body))
		sum := sha256.Sum256(body)
		if err := SignRequest(r, key, hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		if w.Code < 400 || w.Code >= 500 || !bytes.Contains(w.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("body %q: answer %d %s", body, w.Code, w.Body.String())
		}
		if all, err := st.List(); err != nil || len(all) != 0 {
			t.Fatalf("body %q stored %d rollouts (%v)", body, len(all), err)
		}
	})
}
