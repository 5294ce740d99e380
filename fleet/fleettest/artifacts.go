package fleettest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"edgenas/fleet/rollout"
)

// Artifacts is the host's artifact server in a test: a rollout store's
// artifacts served by the host's own handler (rollout.ArtifactHandler), with
// a cut mode for resume-after-cut tests and a record of the Range header of
// every request.
type Artifacts struct {
	store   *rollout.Store
	srv     *httptest.Server
	closing chan struct{}

	mu     sync.Mutex
	cut    map[string]bool
	ranges map[string][]string
}

// ServeArtifacts starts an artifact server over a fresh store, stopped when
// the test ends.
func ServeArtifacts(t testing.TB) *Artifacts {
	t.Helper()
	st, err := rollout.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Artifacts{store: st, closing: make(chan struct{}), cut: map[string]bool{}, ranges: map[string][]string{}}
	real := rollout.ArtifactHandler(st.ArtifactDir())
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha := strings.TrimPrefix(r.URL.Path, "/artifacts/")
		a.mu.Lock()
		cut := a.cut[sha]
		delete(a.cut, sha)
		a.ranges[sha] = append(a.ranges[sha], r.Header.Get("Range"))
		a.mu.Unlock()
		if cut {
			a.serveCut(w, r, sha)
			return
		}
		real.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	// Runs before the server's Close (cleanups run last-in first-out), so a
	// request hanging in cut mode cannot hold Close up.
	t.Cleanup(func() { close(a.closing) })
	return a
}

// Add stores body as an artifact, as `edgenas deploy` stores a model file.
func (a *Artifacts) Add(t testing.TB, body []byte) rollout.Artifact {
	t.Helper()
	src := filepath.Join(t.TempDir(), "artifact")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	art, err := a.store.AddArtifact(src)
	if err != nil {
		t.Fatal(err)
	}
	return art
}

// URL is the artifact's URL as agents fetch it.
func (a *Artifacts) URL(sha string) string { return a.srv.URL + "/artifacts/" + sha }

// CutNext makes the next request for sha get a full Content-Length but only
// the first half of the body, then hang until the client goes away: a
// connection cut mid-download that only a resumed request can finish.
func (a *Artifacts) CutNext(sha string) {
	a.mu.Lock()
	a.cut[sha] = true
	a.mu.Unlock()
}

// Ranges lists the Range header of every request for sha so far ("" for a
// request of the whole artifact).
func (a *Artifacts) Ranges(sha string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ranges[sha]...)
}

func (a *Artifacts) serveCut(w http.ResponseWriter, r *http.Request, sha string) {
	b, err := os.ReadFile(filepath.Join(a.store.ArtifactDir(), filepath.Base(sha)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-a.closing:
	}
}
