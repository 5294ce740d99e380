package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
)

// Rollout phases. A rollout moves canary -> rest -> done, or stops at
// aborted (the failure threshold was passed) or interrupted (the host was
// stopped before the end; the state file says how far it got).
const (
	PhaseCanary      = "canary"
	PhaseRest        = "rest"
	PhaseDone        = "done"
	PhaseAborted     = "aborted"
	PhaseInterrupted = "interrupted"
)

// Host-side device states, besides the agent's install states
// (proto.InstallReceived ... proto.InstallRefused).
const (
	DevicePending = "pending" // not sent yet (waits for the canaries)
	DeviceSent    = "sent"    // the deploy is on the broker; no report yet
	DeviceTimeout = "timeout" // silent past the timeout: counts as failed (final)
	DeviceSkipped = "skipped" // never sent, or withdrawn, because the rollout aborted (final)
)

// Device is one target's progress in a rollout.
type Device struct {
	Agent  string `json:"agent"`
	Class  string `json:"class,omitempty"`
	Canary bool   `json:"canary"`
	// State is a host-side state (pending, sent, timeout, skipped) or the
	// last install state the agent reported.
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Version uint64 `json:"version,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Size    int64  `json:"size,omitempty"`
	// LatencyMS is the health check's median latency on the device.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// Sent is when the deploy was published; Heard when the agent last reported.
	Sent  time.Time `json:"sent,omitzero"`
	Heard time.Time `json:"heard,omitzero"`
}

// Final reports whether the device's state can no longer change the
// rollout's outcome.
func (d *Device) Final() bool {
	return proto.IsFinalInstall(d.State) || d.State == DeviceTimeout || d.State == DeviceSkipped
}

// Failed reports whether the device counts as a failure: rolled back,
// refused, tampered with, or silent past the timeout.
func (d *Device) Failed() bool {
	return d.State == proto.InstallRolledBack || d.State == proto.InstallRefused || d.State == proto.InstallTampered ||
		d.State == DeviceTimeout
}

// Rollout is the persisted state of one deploy: what was sent, to whom, and
// how every device answered. It is rewritten atomically on every change.
type Rollout struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	URL     string `json:"url"`
	// Target is the --to selector the devices were resolved from.
	Target        string  `json:"target"`
	Canary        int     `json:"canary"`
	MaxFailurePct float64 `json:"max_failure_pct"`
	TimeoutSecs   float64 `json:"timeout_secs"`
	Phase         string  `json:"phase"`
	// Reason says why the rollout aborted or was interrupted.
	Reason   string    `json:"reason,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	// Manifest is the signed manifest envelope, kept so a resumed rollout
	// re-publishes exactly the same bytes.
	Manifest []byte    `json:"manifest"`
	Devices  []*Device `json:"devices"`
}

// Counts tallies a rollout's devices.
type Counts struct {
	Total     int `json:"total"`
	Committed int `json:"committed"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Pending   int `json:"pending"` // not final yet (pending, sent or in an install state)
}

// Counts tallies the devices by outcome.
func (r *Rollout) Counts() Counts {
	c := Counts{Total: len(r.Devices)}
	for _, d := range r.Devices {
		switch {
		case d.State == proto.InstallCommitted:
			c.Committed++
		case d.Failed():
			c.Failed++
		case d.State == DeviceSkipped:
			c.Skipped++
		default:
			c.Pending++
		}
	}
	return c
}

// Device returns the named target, or nil.
func (r *Rollout) Device(agent string) *Device {
	for _, d := range r.Devices {
		if d.Agent == agent {
			return d
		}
	}
	return nil
}

// Succeeded reports whether the rollout finished with every device committed.
func (r *Rollout) Succeeded() bool {
	c := r.Counts()
	return r.Phase == PhaseDone && c.Committed == c.Total
}

// NewID names a rollout: the artifact name and version and the creation
// time, so ids sort by time within a name and read well in logs.
func NewID(name string, version uint64, at time.Time) string {
	return fmt.Sprintf("%s-v%d-%s", name, version, at.UTC().Format("20060102T150405.000"))
}

// Store keeps rollouts (DIR/rollouts/ID.json) and the artifacts they serve
// (DIR/artifacts/SHA256) in a state directory.
type Store struct {
	dir string
}

// OpenStore opens (creating if needed) a state directory.
func OpenStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("rollout store: empty state directory")
	}
	for _, sub := range []string{"rollouts", "artifacts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("rollout store %s: %w", dir, err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// ArtifactDir is where artifacts are kept by sha256.
func (s *Store) ArtifactDir() string { return filepath.Join(s.dir, "artifacts") }

func (s *Store) path(id string) string { return filepath.Join(s.dir, "rollouts", id+".json") }

// Save writes r atomically, stamping Updated.
func (s *Store) Save(r *Rollout) error {
	if err := proto.ValidJobID(r.ID); err != nil {
		return fmt.Errorf("save rollout: %w", err)
	}
	r.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	if err := atomicfile.WriteFile(s.path(r.ID), append(b, '\n')); err != nil {
		return fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	return nil
}

// Load reads one rollout.
func (s *Store) Load(id string) (*Rollout, error) {
	if err := proto.ValidJobID(id); err != nil {
		return nil, fmt.Errorf("load rollout: %w", err)
	}
	p := s.path(id)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("rollout %q not found in %s", id, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load rollout: %w", err)
	}
	var r Rollout
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("load %s: %w", p, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("load %s: holds rollout %q", p, r.ID)
	}
	return &r, nil
}

// List reads every rollout, oldest first.
func (s *Store) List() ([]*Rollout, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "rollouts"))
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	var out []*Rollout
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || proto.ValidJobID(id) != nil {
			continue // atomicfile temporaries and strays
		}
		r, err := s.Load(id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Latest returns the most recently created rollout.
func (s *Store) Latest() (*Rollout, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no rollouts in %s", s.dir)
	}
	return all[len(all)-1], nil
}

// NextVersion is one more than the highest version of name any rollout in
// the store used (aborted ones included: their canaries may have committed
// it), or 1.
func (s *Store) NextVersion(name string) (uint64, error) {
	all, err := s.List()
	if err != nil {
		return 0, err
	}
	var last uint64
	for _, r := range all {
		if r.Name == name && r.Version > last {
			last = r.Version
		}
	}
	return last + 1, nil
}
