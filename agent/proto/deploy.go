package proto

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"edgenas/internal/ident"
)

// Manifest kinds: what a Deploy installs. The agent picks its installer by
// this field.
const (
	ManifestModel = "model" // a .tflite model into DATA/models/NAME/VERSION
	ManifestAgent = "agent" // an agent bundle into an A/B slot (firmware work)
)

// Install states an agent reports while it works on a Deploy, in order.
// Committed, RolledBack and Refused are final: nothing follows them for the
// same (rollout, version).
const (
	InstallReceived    = "received"    // the Deploy arrived and its manifest verified
	InstallDownloading = "downloading" // fetching the artifact (Bytes/Size show progress)
	InstallVerifying   = "verifying"   // checking size and sha256 of the download
	InstallInstalling  = "installing"  // placing the files into the versioned store
	InstallChecking    = "checking"    // the health check: load, invoke, compare, time
	InstallCommitted   = "committed"   // the new version is current (final)
	InstallRolledBack  = "rolled_back" // the previous version is current again (final; Reason says why)
	InstallRefused     = "refused"     // never installed: bad signature, replay, bad manifest (final; Reason says why)
	// InstallTampered: an installed file no longer matches the manifest it
	// was installed with (File, ExpectedSHA256, ActualSHA256 say which and
	// how); the version is set aside and not used (final).
	InstallTampered = "tampered"
	// InstallCancelled: the host withdrew the deploy (cleared it, or
	// replaced it with a newer version of the same artifact) while the agent
	// was still waiting for the download; nothing changed on the device (final).
	InstallCancelled = "cancelled"
)

// InstallStates lists every install state in the order an install passes them.
func InstallStates() []string {
	return []string{InstallReceived, InstallDownloading, InstallVerifying, InstallInstalling, InstallChecking,
		InstallCommitted, InstallRolledBack, InstallRefused, InstallTampered, InstallCancelled}
}

// IsFinalInstall reports whether state ends an install.
func IsFinalInstall(state string) bool {
	return state == InstallCommitted || state == InstallRolledBack || state == InstallRefused || state == InstallTampered ||
		state == InstallCancelled
}

// MaxManifest bounds the signed manifest envelope a Deploy carries; the
// expected output of a classifier is small, and the envelope must leave room
// in MaxPayload for base64 and the rest of the message.
const MaxManifest = 128 << 10

// MaxArtifact bounds the artifact size a manifest may announce (1 GiB), so a
// manifest cannot make an agent fill its disk.
const MaxArtifact = 1 << 30

// Deploy asks one agent to install an artifact. The host publishes it
// RETAINED on the agent's own deploy topic, so an agent that was offline
// gets it when it reconnects; re-delivery is harmless (see Install).
type Deploy struct {
	Header
	// Rollout is the host's rollout id.
	Rollout string `json:"rollout"`
	// Manifest is an internal/signing envelope (JSON) whose payload is a
	// Manifest. The agent checks the signature before reading anything in it.
	Manifest []byte `json:"manifest"`
}

// Manifest describes one artifact version. It only ever travels signed.
type Manifest struct {
	// Kind is ManifestModel or ManifestAgent.
	Kind string `json:"kind"`
	// Name is the model (or bundle) name: a directory name in the store.
	Name string `json:"name"`
	// Version increases with every deploy of Name; the agent refuses any
	// version <= its committed one as a replay.
	Version uint64 `json:"version"`
	Size    int64  `json:"size"`
	// SHA256 is the artifact's hex digest; the host serves it at
	// /artifacts/<sha256>.
	SHA256 string `json:"sha256"`
	// URL is the http(s) URL of the artifact.
	URL string `json:"url"`
	// InputSeed fills every input tensor (profiler.FillRandomInputs) for the
	// health check.
	InputSeed uint64 `json:"input_seed"`
	// Expected is the raw int8 bytes of output tensor 0 on that input,
	// computed by the host on Backend.
	Expected []byte `json:"expected"`
	// Backend names the backend that computed Expected ("" means ref). An
	// agent on the same backend holds its output to MaxDiff; one on another
	// backend only to the top-1 class, because XNNPACK's single rounding and
	// TFLite's double rounding compound to more than a few quanta over a
	// whole trained network (runtime/backends/AGREEMENT.md).
	Backend string `json:"backend,omitempty"`
	// MaxDiff is the largest allowed |difference| in quanta between the
	// device's output and Expected; the top-1 index must match too.
	MaxDiff int `json:"max_diff"`
	// Check is the model health check: CheckOutput (compare output tensor 0
	// with Expected, then time) or CheckTiming (the device runs the model
	// on the fixed input and times it; no Expected, so no comparison). ""
	// is CheckOutput, the meaning of manifests from before the field; the
	// host writes only "timing", so agents from before the field (which
	// refuse unknown fields) still take output manifests and refuse timing
	// ones instead of misreading them.
	Check string `json:"check,omitempty"`
	// MinAgentVersion, if set, is the oldest agent version that may install it.
	MinAgentVersion string `json:"min_agent_version,omitempty"`
	// Target is GOOS/GOARCH for agent bundles ("" for models).
	Target  string    `json:"target,omitempty"`
	Created time.Time `json:"created"`
}

// Validate checks a manifest's fields after its signature verified. The
// errors name the field; they become the Reason of a refused install.
func (m *Manifest) Validate() error {
	switch m.Kind {
	case ManifestModel, ManifestAgent:
	default:
		return fmt.Errorf("manifest kind %q: want %q or %q", m.Kind, ManifestModel, ManifestAgent)
	}
	if err := ValidID(m.Name); err != nil {
		return fmt.Errorf("manifest name: %w", err)
	}
	if m.Version == 0 {
		return fmt.Errorf("manifest %s: version 0, want >= 1", m.Name)
	}
	if m.Size <= 0 || m.Size > MaxArtifact {
		return fmt.Errorf("manifest %s: size %d out of 1..%d", m.Name, m.Size, MaxArtifact)
	}
	if err := ident.CheckSHA256(m.SHA256); err != nil {
		return fmt.Errorf("manifest %s: %w", m.Name, err)
	}
	u, err := url.Parse(m.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("manifest %s: url %q: want http(s)://HOST/...", m.Name, m.URL)
	}
	if m.MaxDiff < 0 || m.MaxDiff > 255 {
		return fmt.Errorf("manifest %s: max_diff %d out of 0..255", m.Name, m.MaxDiff)
	}
	if err := m.validateCheck(); err != nil {
		return fmt.Errorf("manifest %s: %w", m.Name, err)
	}
	if err := checkLen("min_agent_version", m.MinAgentVersion, 64); err != nil {
		return fmt.Errorf("manifest %s: %w", m.Name, err)
	}
	if m.Kind == ManifestAgent {
		if err := ident.CheckTarget(m.Target); err != nil {
			return fmt.Errorf("manifest %s: %w", m.Name, err)
		}
	}
	return nil
}

// Model health-check modes (Manifest.Check).
const (
	CheckOutput = "output" // compare output tensor 0 with Expected, then time
	CheckTiming = "timing" // run the model on the fixed input and time it; no comparison
)

// HealthCheck is the manifest's health-check mode, "" read as CheckOutput.
func (m *Manifest) HealthCheck() string {
	if m.Check == "" {
		return CheckOutput
	}
	return m.Check
}

// validateCheck ties Check to Expected: an output check needs the expected
// output, a timing check must carry none (so a reader never mistakes it for
// an output check), and agent bundles have neither.
func (m *Manifest) validateCheck() error {
	if m.Kind == ManifestAgent {
		if m.Check != "" {
			return fmt.Errorf("check %q: agent bundles have no model health check", m.Check)
		}
		return nil
	}
	switch m.HealthCheck() {
	case CheckOutput:
		if len(m.Expected) == 0 {
			return fmt.Errorf("no expected output for the output health check")
		}
	case CheckTiming:
		if len(m.Expected) != 0 || m.MaxDiff != 0 {
			return fmt.Errorf("check %q carries an expected output or max_diff (a timing check compares none)", CheckTiming)
		}
	default:
		return fmt.Errorf("check %q: want %q or %q", m.Check, CheckOutput, CheckTiming)
	}
	return nil
}

// Install reports one state change of an agent's install. It is not
// retained; the agent keeps unsent reports on disk and re-sends them after a
// reconnect, so the host must treat duplicates as harmless.
type Install struct {
	Header
	Agent   string `json:"agent"`
	Rollout string `json:"rollout"`
	// Kind, Name and Version come from the manifest; they are empty (0) on a
	// refusal that happened before the manifest could be read (bad signature).
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name,omitempty"`
	Version uint64 `json:"version,omitempty"`
	State   string `json:"state"`
	// Reason is mandatory for rolled_back and refused.
	Reason string `json:"reason,omitempty"`
	// Bytes of Size downloaded (downloading and later).
	Bytes int64 `json:"bytes,omitempty"`
	Size  int64 `json:"size,omitempty"`
	// LatencyMS is the health check's median latency (committed).
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// File (relative to the agent's data dir), ExpectedSHA256 (from the
	// installed manifest; "" if the manifest itself is damaged) and
	// ActualSHA256 (of the bytes on disk; "" if the file is gone) describe
	// the damage of a tampered report.
	File           string    `json:"file,omitempty"`
	ExpectedSHA256 string    `json:"expected_sha256,omitempty"`
	ActualSHA256   string    `json:"actual_sha256,omitempty"`
	Time           time.Time `json:"time"`
}

func (m *Deploy) validate(string) error {
	if err := ValidJobID(m.Rollout); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if len(m.Manifest) == 0 {
		return fmt.Errorf("deploy %s: empty manifest", m.Rollout)
	}
	if len(m.Manifest) > MaxManifest {
		return fmt.Errorf("deploy %s: manifest of %d bytes exceeds %d", m.Rollout, len(m.Manifest), MaxManifest)
	}
	return nil
}

func (m *Install) validate(agent string) error {
	if err := sameAgent(m.Agent, agent); err != nil {
		return err
	}
	if err := ValidJobID(m.Rollout); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	known := false
	for _, s := range InstallStates() {
		known = known || s == m.State
	}
	if !known {
		return fmt.Errorf("install state %q: want one of %s", m.State, strings.Join(InstallStates(), ", "))
	}
	if (m.State == InstallRolledBack || m.State == InstallRefused || m.State == InstallTampered || m.State == InstallCancelled) &&
		strings.TrimSpace(m.Reason) == "" {
		return fmt.Errorf("install %s: state %s without a reason", m.Rollout, m.State)
	}
	if err := checkLen("reason", m.Reason, 4096); err != nil {
		return err
	}
	switch m.Kind {
	case "", ManifestModel, ManifestAgent:
	default:
		return fmt.Errorf("install %s: kind %q unknown", m.Rollout, m.Kind)
	}
	if m.Name != "" {
		if err := ValidID(m.Name); err != nil {
			return fmt.Errorf("install %s: name: %w", m.Rollout, err)
		}
	}
	if m.State != InstallRefused && (m.Kind == "" || m.Name == "" || m.Version == 0) {
		return fmt.Errorf("install %s: state %s needs kind, name and version", m.Rollout, m.State)
	}
	if m.Bytes < 0 || m.Size < 0 || (m.Size > 0 && m.Bytes > m.Size) {
		return fmt.Errorf("install %s: %d of %d bytes out of range", m.Rollout, m.Bytes, m.Size)
	}
	if math.IsNaN(m.LatencyMS) || math.IsInf(m.LatencyMS, 0) || m.LatencyMS < 0 {
		return fmt.Errorf("install %s: latency %g ms is negative or not finite", m.Rollout, m.LatencyMS)
	}
	if err := checkLen("file", m.File, 512); err != nil {
		return err
	}
	for _, h := range []struct{ name, v string }{{"expected_sha256", m.ExpectedSHA256}, {"actual_sha256", m.ActualSHA256}} {
		if h.v != "" {
			if err := ident.CheckSHA256(h.v); err != nil {
				return fmt.Errorf("install %s: %s: %w", m.Rollout, h.name, err)
			}
		}
	}
	if m.State == InstallTampered && m.File == "" {
		return fmt.Errorf("install %s: tampered without the file", m.Rollout)
	}
	return nil
}
