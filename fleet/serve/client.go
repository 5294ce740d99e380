package serve

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/internal/safefile"
)

// maxResponse bounds what the client reads of an answer.
const maxResponse = 64 << 20

// Client talks to a running serve's API, signing every request with the
// host key.
type Client struct {
	// API is the base URL (Info.API).
	API  string
	Key  ed25519.PrivateKey
	HTTP *http.Client
	// Info is what the serve wrote in its InfoFile, when found by Discover.
	Info Info
}

// ErrNotRunning is returned by Discover when no serve answers for a state
// directory.
var ErrNotRunning = errors.New("no edgenas serve running")

// Discover finds the serve that owns stateDir: its InfoFile names the API,
// and the API must answer its health check (a serve killed without a clean
// shutdown leaves the file behind). The error wraps ErrNotRunning when there
// is none.
func Discover(ctx context.Context, stateDir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, InfoFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w for %s", ErrNotRunning, stateDir)
	}
	if err != nil {
		return nil, fmt.Errorf("serve info: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("serve info %s: %w", filepath.Join(stateDir, InfoFile), err)
	}
	c := &Client{API: info.API, HTTP: &http.Client{Timeout: 2 * time.Second}}
	var h Health
	if err := c.do(ctx, http.MethodGet, "/api/v1/health", nil, emptySHA, &h); err != nil {
		return nil, fmt.Errorf("%w for %s (%s does not answer: %v)", ErrNotRunning, stateDir, info.API, err)
	}
	if h.Service != ServiceName || h.PID != info.PID {
		return nil, fmt.Errorf("%w for %s (%s is another process)", ErrNotRunning, stateDir, info.API)
	}
	return &info, nil
}

// UploadArtifact sends the file at path to serve's artifact store.
func (c *Client) UploadArtifact(ctx context.Context, path string) (ArtifactRef, error) {
	var ref ArtifactRef
	f, size, err := safefile.Open(path, proto.MaxArtifact)
	if err != nil {
		return ref, fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ref, fmt.Errorf("artifact %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ref, fmt.Errorf("artifact %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// The body is the open file: a file changed since hashing fails the
	// server's check against the signed hash.
	err = c.do(ctx, http.MethodPost, "/api/v1/artifacts", io.LimitReader(f, size), sum, &ref)
	if err != nil {
		return ref, err
	}
	if ref.SHA256 != sum {
		return ref, fmt.Errorf("upload %s: serve stored sha256 %s, sent %s", path, ref.SHA256, sum)
	}
	return ref, nil
}

// Register hands serve a planned rollout to drive.
func (c *Client) Register(ctx context.Context, r *rollout.Rollout) (*rollout.Rollout, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	sum := sha256.Sum256(b)
	var out rollout.Rollout
	if err := c.do(ctx, http.MethodPost, "/api/v1/rollouts", bytes.NewReader(b), hex.EncodeToString(sum[:]), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollout reads a rollout's state (id Latest: the newest).
func (c *Client) Rollout(ctx context.Context, id string) (*RolloutStatus, error) {
	out := &RolloutStatus{Rollout: new(rollout.Rollout)}
	if err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+id, nil, emptySHA, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Resume asks serve to drive an interrupted rollout again.
func (c *Client) Resume(ctx context.Context, id string) (*RolloutStatus, error) {
	out := &RolloutStatus{Rollout: new(rollout.Rollout)}
	if err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+id+"/resume", nil, emptySHA, out); err != nil {
		return nil, err
	}
	return out, nil
}

// do sends one request (signed when the client has a key) and decodes the
// JSON answer into out; a non-2xx answer is an error carrying serve's text.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, bodySHA string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.API+path, body)
	if err != nil {
		return fmt.Errorf("serve %s %s: %w", method, path, err)
	}
	if c.Key != nil {
		if err := SignRequest(req, c.Key, bodySHA); err != nil {
			return err
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("serve %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("serve %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("serve %s %s: %s: %s", method, path, resp.Status, e.Error)
		}
		return fmt.Errorf("serve %s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("serve %s %s: answer: %w", method, path, err)
	}
	return nil
}
