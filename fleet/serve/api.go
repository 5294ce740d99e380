package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
)

// Limits on what a request may carry.
const (
	// maxRolloutBody bounds a registered rollout's JSON (devices and the
	// signed manifest with its expected output).
	maxRolloutBody = 32 << 20
	// maxDevices bounds the devices of one rollout.
	maxDevices = 100000
)

// Latest is the rollout id GET /api/v1/rollouts/{id} reads as "the most
// recently created one"; it is never a rollout's own id.
const Latest = "latest"

// Health is the unauthenticated answer of GET /api/v1/health: enough for a
// client to know it found a serve, nothing more.
type Health struct {
	Service   string `json:"service"`
	PID       int    `json:"pid"`
	Artifacts string `json:"artifacts"`
	Running   int    `json:"running"`
}

// ServiceName is Health.Service.
const ServiceName = "edgenas-serve"

// ArtifactRef is the answer to an artifact upload.
type ArtifactRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// routes registers everything serve answers on its one mux: the artifacts
// under /artifacts/ and the API under /api/v1/ (pages go next to them).
func (s *server) routes() {
	s.mux.Handle("/artifacts/", rollout.ArtifactHandler(s.st.ArtifactDir()))
	s.mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, Health{Service: ServiceName, PID: os.Getpid(), Artifacts: s.base, Running: n})
	})
	s.mux.HandleFunc("POST /api/v1/artifacts", s.signed(s.postArtifact))
	s.mux.HandleFunc("POST /api/v1/rollouts", s.signed(s.postRollout))
	s.mux.HandleFunc("GET /api/v1/rollouts/{id}", s.signed(s.getRollout))
	s.mux.HandleFunc("POST /api/v1/rollouts/{id}/resume", s.signed(s.resumeRollout))
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }

func fail(status int, format string, a ...any) error {
	return &apiError{status: status, err: fmt.Errorf(format, a...)}
}

// signed checks the request's signature, then gives the handler the body
// (read whole up to limit for JSON calls; artifact uploads stream it) and
// the hash the signer claimed for it.
func (s *server) signed(h func(w http.ResponseWriter, r *http.Request, bodySHA string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sum, err := s.auth.check(r)
		if err != nil {
			s.log.Warn("api request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if err := h(w, r, sum); err != nil {
			status := http.StatusInternalServerError
			var ae *apiError
			if errors.As(err, &ae) {
				status = ae.status
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
		}
	}
}

// readBody reads a JSON body of at most limit bytes and checks it against
// the signed hash.
func readBody(r *http.Request, limit int64, want string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "read body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, fail(http.StatusRequestEntityTooLarge, "body over %d bytes", limit)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
		return nil, fail(http.StatusUnauthorized, "body does not match its signature")
	}
	return b, nil
}

// postArtifact stores the body as an artifact (content-addressed).
func (s *server) postArtifact(w http.ResponseWriter, r *http.Request, want string) error {
	tmpDir := filepath.Join(s.st.Dir(), uploadDir)
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r.Body, proto.MaxArtifact+1))
	if err != nil {
		return fail(http.StatusBadRequest, "upload: %v", err)
	}
	if n > proto.MaxArtifact {
		return fail(http.StatusRequestEntityTooLarge, "upload: over the %d bytes an agent accepts", int64(proto.MaxArtifact))
	}
	if hex.EncodeToString(h.Sum(nil)) != want {
		return fail(http.StatusUnauthorized, "upload: body does not match its signature")
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	a, err := s.st.AddArtifact(f.Name())
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}
	writeJSON(w, http.StatusOK, ArtifactRef{SHA256: a.SHA256, Size: a.Size, URL: s.artifactURL(a.SHA256)})
	return nil
}

// postRollout registers a planned rollout and starts driving it. The same
// rollout registered again (a retried request) is answered with its state.
func (s *server) postRollout(w http.ResponseWriter, r *http.Request, want string) error {
	b, err := readBody(r, maxRolloutBody, want)
	if err != nil {
		return err
	}
	var ro rollout.Rollout
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ro); err != nil {
		return fail(http.StatusBadRequest, "rollout: %v", err)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if old, err := s.st.Load(ro.ID); err == nil {
		if !bytes.Equal(old.Manifest, ro.Manifest) {
			return fail(http.StatusConflict, "rollout %s already exists with another manifest", ro.ID)
		}
		// Marshalled before launch: from then on the engine owns old.
		body := mustJSON(old)
		if !ended(old) && s.servable(old) == nil {
			s.launch(old)
		}
		writeRaw(w, http.StatusOK, body)
		return nil
	}
	if err := s.checkRollout(&ro); err != nil {
		return err
	}
	if err := s.st.Save(&ro); err != nil {
		return err
	}
	body := mustJSON(&ro)
	s.launch(&ro)
	writeRaw(w, http.StatusCreated, body)
	return nil
}

// checkRollout refuses a rollout serve could not run as planned: a bad id
// or policy, devices not fresh, a manifest not signed by the host key or not
// matching the rollout, an artifact not in the store or not served here, or
// a version of the name already deployed with other bytes.
func (s *server) checkRollout(ro *rollout.Rollout) error {
	if err := proto.ValidJobID(ro.ID); err != nil || ro.ID == Latest {
		return fail(http.StatusBadRequest, "rollout id %q: want a job id other than %q (%v)", ro.ID, Latest, err)
	}
	switch {
	case ro.Phase != rollout.PhaseCanary:
		return fail(http.StatusBadRequest, "rollout %s: phase %q, a new rollout starts in %q", ro.ID, ro.Phase, rollout.PhaseCanary)
	case ro.TimeoutSecs <= 0:
		return fail(http.StatusBadRequest, "rollout %s: timeout %gs, want > 0", ro.ID, ro.TimeoutSecs)
	case ro.MaxFailurePct < 0 || ro.MaxFailurePct > 100:
		return fail(http.StatusBadRequest, "rollout %s: max failure %g%%, want 0..100", ro.ID, ro.MaxFailurePct)
	case len(ro.Devices) == 0 || len(ro.Devices) > maxDevices:
		return fail(http.StatusBadRequest, "rollout %s: %d devices, want 1..%d", ro.ID, len(ro.Devices), maxDevices)
	}
	seen := map[string]bool{}
	for _, d := range ro.Devices {
		if err := proto.ValidID(d.Agent); err != nil {
			return fail(http.StatusBadRequest, "rollout %s: device: %v", ro.ID, err)
		}
		if seen[d.Agent] || d.State != rollout.DevicePending {
			return fail(http.StatusBadRequest, "rollout %s: device %s listed twice or not pending (%s)", ro.ID, d.Agent, d.State)
		}
		seen[d.Agent] = true
	}
	var m proto.Manifest
	if err := signing.OpenJSON(s.cfg.Trust, ro.Manifest, &m); err != nil {
		return fail(http.StatusBadRequest, "rollout %s: manifest: %v", ro.ID, err)
	}
	if err := m.Validate(); err != nil {
		return fail(http.StatusBadRequest, "rollout %s: %v", ro.ID, err)
	}
	if m.Kind != ro.Kind || m.Name != ro.Name || m.Version != ro.Version || m.SHA256 != ro.SHA256 || m.Size != ro.Size || m.URL != ro.URL {
		return fail(http.StatusBadRequest, "rollout %s: its fields differ from its signed manifest", ro.ID)
	}
	if err := s.servable(ro); err != nil {
		return fail(http.StatusBadRequest, "rollout %s: %v", ro.ID, err)
	}
	all, err := s.st.List()
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name == ro.Name && o.Version == ro.Version && o.SHA256 != ro.SHA256 {
			return fail(http.StatusConflict, "rollout %s: %s v%d was already deployed with other bytes by %s; use a new version",
				ro.ID, ro.Name, ro.Version, o.ID)
		}
	}
	return nil
}

func (s *server) getRollout(w http.ResponseWriter, r *http.Request, want string) error {
	if want != emptySHA {
		return fail(http.StatusBadRequest, "GET with a body")
	}
	id := r.PathValue("id")
	var ro *rollout.Rollout
	var err error
	if id == Latest {
		ro, err = s.st.Latest()
	} else {
		ro, err = s.st.Load(id)
	}
	if err != nil {
		return fail(http.StatusNotFound, "%v", err)
	}
	writeJSON(w, http.StatusOK, RolloutStatus{Rollout: ro, Running: slices.Contains(s.runningIDs(), ro.ID)})
	return nil
}

// RolloutStatus is a rollout as the API returns it: its state file and
// whether this serve is driving it now.
type RolloutStatus struct {
	*rollout.Rollout
	Running bool `json:"running"`
}

func (s *server) resumeRollout(w http.ResponseWriter, r *http.Request, _ string) error {
	ro, err := s.st.Load(r.PathValue("id"))
	if err != nil {
		return fail(http.StatusNotFound, "%v", err)
	}
	if ended(ro) {
		return fail(http.StatusConflict, "rollout %s already ended (%s); nothing to resume", ro.ID, ro.Phase)
	}
	if err := s.servable(ro); err != nil {
		return fail(http.StatusConflict, "rollout %s: %v", ro.ID, err)
	}
	body := mustJSON(RolloutStatus{Rollout: ro, Running: true})
	s.launch(ro)
	writeRaw(w, http.StatusOK, body)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) { writeRaw(w, status, mustJSON(v)) }

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// mustJSON marshals values that always marshal (plain structs and maps).
func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error": %q}`, err.Error()))
	}
	return append(b, '\n')
}
