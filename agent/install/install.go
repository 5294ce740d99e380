// Package install is the agent side of a rollout: it checks a Deploy's signed
// manifest against the host key the agent trusts, then hands it to the
// installer registered for the manifest's kind ("model" by default), which
// downloads the artifact with resume, verifies it, places it in a versioned
// store, health-checks it and commits or rolls back. Every state change is
// reported. Installs are journaled, so an agent killed at any point finishes
// or rolls back the interrupted install when it starts again.
package install

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
	"edgenas/internal/signing"
)

// Installer installs one kind of artifact (proto.Manifest.Kind). The manager
// has already checked the signature, the manifest's fields, the minimum agent
// version and that the version is newer than the committed one.
type Installer interface {
	// Committed returns the committed version of name (0: none).
	Committed(name string) (uint64, error)
	// Install takes t from wherever an earlier, interrupted attempt left it
	// to a final state, reporting every state change through t.Report. The
	// returned Outcome is the final state; an error is returned only when
	// ctx ended (shutdown), in which case the journal stays for recovery.
	Install(ctx context.Context, t *Task) (Outcome, error)
	// Interrupted lists installs a previous run left unfinished (journaled
	// but neither committed nor rolled back). Their Report is not set.
	Interrupted() ([]*Task, error)
	// Abandon rolls back an interrupted install without running it (its
	// journal failed verification); the previous version stays current.
	Abandon(t *Task) error
}

// Outcome is the final state of an install.
type Outcome struct {
	State     string // proto.InstallCommitted, InstallRolledBack, InstallRefused or InstallTampered
	Reason    string
	LatencyMS float64
	// Tamper details a tampered outcome.
	Tamper *Tamper
}

// Task is one install in progress: the verified manifest and the signed
// envelope it came in (kept next to the installed files).
type Task struct {
	Rollout  string
	Manifest proto.Manifest
	Envelope []byte
	// Trust is the set of host keys the manifest was verified with (the
	// agent's live keyring): an installer checks what the manifest points
	// at, such as an agent bundle's own signature, against the same keys.
	Trust signing.Verifier
	// Report sends one state change; the manager fills in the identity fields.
	Report func(state string, fill func(*proto.Install))
	// Pause, if set, is called at named points inside an install (tests
	// use it to kill the process at a deterministic moment).
	Pause func(point string)
	// withdrawn ends (with an ErrWithdrawn cause) when the host withdraws
	// this deploy; Download watches it.
	withdrawn context.Context
}

func (t *Task) pause(point string) {
	if t.Pause != nil {
		t.Pause(point)
	}
}

// Config configures a Manager.
type Config struct {
	// Dir is the agent's data dir; models go under Dir/models and the
	// manager's records under Dir/installs.
	Dir string
	// Agent is the agent id put in every report.
	Agent string
	// AgentVersion is compared with a manifest's MinAgentVersion.
	AgentVersion string
	// Keys is the set of host keys a manifest must be signed by; nil uses
	// Trust alone.
	Keys *signing.Keyring
	// Trust is the host's public key when Keys is nil; both nil refuses
	// every Deploy.
	Trust ed25519.PublicKey
	// Report receives every install report. It must not block for long: the
	// agent persists it and publishes it when connected.
	Report func(*proto.Install)
	// Pause is passed on to every Task (tests only).
	Pause  func(point string)
	Logger *slog.Logger
}

// Manager runs installs one at a time on its own goroutine.
type Manager struct {
	cfg        Config
	log        *slog.Logger
	installers map[string]Installer
	wake       chan struct{}

	mu      sync.Mutex
	queue   []*proto.Deploy
	running []byte // manifest envelope of the install in progress
	// runningMan is the verified manifest of the install in progress (zero
	// before it is verified); withdraw cancels its download.
	runningMan proto.Manifest
	withdraw   context.CancelCauseFunc
}

// NewManager checks cfg. Register installers before Run.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("install: no data dir")
	}
	if err := proto.ValidID(cfg.Agent); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	if cfg.Report == nil {
		return nil, fmt.Errorf("install: no report function")
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "installs", "final"), 0o755); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Keys == nil {
		k, err := signing.OpenKeyring("", cfg.Trust)
		if err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
		cfg.Keys = k
	}
	return &Manager{cfg: cfg, log: log, installers: map[string]Installer{}, wake: make(chan struct{}, 1)}, nil
}

// Register adds the installer of a manifest kind; a kind registered twice
// is an error so two plug-ins cannot silently shadow each other.
func (m *Manager) Register(kind string, in Installer) error {
	if kind == "" || in == nil {
		return fmt.Errorf("install: register: empty kind or nil installer")
	}
	if _, dup := m.installers[kind]; dup {
		return fmt.Errorf("install: register: kind %q already has an installer", kind)
	}
	m.installers[kind] = in
	return nil
}

// Submit queues a Deploy and returns at once (it is called from the MQTT
// handler). A Deploy identical to the one running or queued is dropped: the
// broker re-delivers the retained Deploy on every reconnect.
func (m *Manager) Submit(d *proto.Deploy) {
	m.mu.Lock()
	dup := string(d.Manifest) == string(m.running)
	for _, q := range m.queue {
		dup = dup || (q.Rollout == d.Rollout && string(q.Manifest) == string(d.Manifest))
	}
	if !dup {
		m.queue = append(m.queue, d)
		m.replacedLocked(d)
	}
	m.mu.Unlock()
	if dup {
		m.log.Info("deploy already queued or running", "rollout", d.Rollout)
		return
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Withdraw is called when the host clears the agent's retained deploy: the
// deploys not started yet are dropped, and an install still waiting for its
// download is cancelled (reported proto.InstallCancelled). An install past
// its download finishes: cutting a health check or a commit short would
// leave more to undo than letting it end.
func (m *Manager) Withdraw() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.queue); n > 0 {
		m.log.Info("deploy withdrawn: dropping queued deploys", "queued", n)
		m.queue = nil
	}
	if m.withdraw != nil && m.running != nil {
		m.withdraw(fmt.Errorf("%w: the host cleared it", ErrWithdrawn))
	}
}

// replacedLocked cancels the download in progress when d carries a newer
// version of the same artifact: the host replaced the deploy, and waiting
// for the old version's artifact would hold the new one up. d's manifest
// is verified first, so only the host can cancel this way. m.mu is held.
func (m *Manager) replacedLocked(d *proto.Deploy) {
	cur := m.runningMan
	if m.withdraw == nil || cur.Name == "" {
		return
	}
	next, err := m.open(d.Manifest)
	if err != nil || next.Kind != cur.Kind || next.Name != cur.Name || next.Version <= cur.Version {
		return
	}
	m.withdraw(fmt.Errorf("%w: replaced by version %d (rollout %s)", ErrWithdrawn, next.Version, d.Rollout))
}

// startLocked marks env as the install in progress and returns the context that
// ends when it is withdrawn. m.mu is held.
func (m *Manager) startLocked(env []byte) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	m.running, m.runningMan, m.withdraw = env, proto.Manifest{}, cancel
	return ctx
}

// stop clears the install in progress and releases its context.
func (m *Manager) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.withdraw != nil {
		m.withdraw(nil)
	}
	m.running, m.runningMan, m.withdraw = nil, proto.Manifest{}, nil
}

// verified records the manifest of the install in progress.
func (m *Manager) verified(man proto.Manifest) {
	m.mu.Lock()
	m.runningMan = man
	m.mu.Unlock()
}

// Run first recovers the installs a previous run left unfinished, then works
// through submitted Deploys until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	m.recover(ctx)
	m.audit(ctx)
	for {
		m.mu.Lock()
		var d *proto.Deploy
		var withdrawn context.Context
		if len(m.queue) > 0 {
			d, m.queue = m.queue[0], m.queue[1:]
			withdrawn = m.startLocked(d.Manifest)
		}
		m.mu.Unlock()
		if d == nil {
			select {
			case <-ctx.Done():
				return
			case <-m.wake:
				continue
			}
		}
		m.handle(ctx, d, withdrawn)
		m.stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// recover resumes every journaled install of every installer.
func (m *Manager) recover(ctx context.Context) {
	for kind, in := range m.installers {
		tasks, err := in.Interrupted()
		if err != nil {
			m.log.Error("cannot list interrupted installs", "kind", kind, "err", err)
			continue
		}
		for _, t := range tasks {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("recovering an interrupted install", "kind", kind, "name", t.Manifest.Name, "version", t.Manifest.Version)
			// The journal is local, but it decides what gets installed:
			// check its manifest as strictly as a fresh Deploy's.
			var pre error
			if man, err := m.open(t.Envelope); err != nil {
				pre = fmt.Errorf("recovery: journal: %w", err)
			} else if man.Name != t.Manifest.Name || man.Version != t.Manifest.Version {
				pre = fmt.Errorf("recovery: journal of %s/%d holds the manifest of %s/%d", t.Manifest.Name, t.Manifest.Version, man.Name, man.Version)
			} else {
				t.Manifest = man
			}
			m.mu.Lock()
			withdrawn := m.startLocked(t.Envelope)
			m.mu.Unlock()
			if pre == nil {
				m.verified(t.Manifest)
			}
			m.finish(ctx, in, m.task(t.Rollout, t.Manifest, t.Envelope, withdrawn), pre)
			m.stop()
		}
	}
}

// open verifies an envelope's signature and decodes and validates its manifest.
func (m *Manager) open(env []byte) (proto.Manifest, error) {
	var man proto.Manifest
	if len(m.cfg.Keys.Set().Keys) == 0 {
		return man, errors.New("no trusted key configured")
	}
	if err := m.cfg.Keys.OpenJSON(env, &man); err != nil {
		// "signature: signed by another key: ..." reads better on the host
		// than the envelope's own prefix.
		return man, fmt.Errorf("signature: %s", strings.TrimPrefix(err.Error(), "signed envelope: "))
	}
	if err := man.Validate(); err != nil {
		return man, err
	}
	return man, nil
}

// handle takes one Deploy from verification to a final state.
func (m *Manager) handle(ctx context.Context, d *proto.Deploy, withdrawn context.Context) {
	man, err := m.open(d.Manifest)
	if err != nil {
		m.refuse(d.Rollout, proto.Manifest{}, err.Error())
		return
	}
	m.verified(man)
	// From here the manifest is authentic, so its name and version go in the report.
	in, ok := m.installers[man.Kind]
	if !ok {
		m.refuse(d.Rollout, man, fmt.Sprintf("no installer for kind %q on this agent", man.Kind))
		return
	}
	if err := checkMinVersion(m.cfg.AgentVersion, man.MinAgentVersion); err != nil {
		m.refuse(d.Rollout, man, err.Error())
		return
	}
	committed, err := in.Committed(man.Name)
	if err != nil {
		m.refuse(d.Rollout, man, fmt.Sprintf("store: %v", err))
		return
	}
	if man.Version == committed {
		if m.sameVersionCheck(d.Rollout, in, man, d.Manifest) {
			return
		}
		// A re-delivered Deploy of what is installed: say so again.
		prev, _ := m.loadFinal(man)
		m.report(d.Rollout, man, proto.InstallCommitted, func(r *proto.Install) {
			r.Bytes = man.Size
			if prev != nil && prev.State == proto.InstallCommitted {
				r.LatencyMS = prev.LatencyMS
			}
		})
		return
	}
	if man.Version < committed {
		m.refuse(d.Rollout, man, fmt.Sprintf("replayed version %d <= installed %d", man.Version, committed))
		return
	}
	if prev, err := m.loadFinal(man); err == nil && prev != nil && prev.State != proto.InstallCommitted &&
		prev.envelope == envelopeHash(d.Manifest) {
		// This very manifest already failed here; trying it again on every
		// reconnect would fail again. The host deploys a new version instead.
		m.report(d.Rollout, man, prev.State, func(r *proto.Install) {
			r.Reason, r.File, r.ExpectedSHA256, r.ActualSHA256 = prev.Reason, prev.File, prev.ExpectedSHA256, prev.ActualSHA256
		})
		return
	}
	t := m.task(d.Rollout, man, d.Manifest, withdrawn)
	t.Report(proto.InstallReceived, nil)
	m.finish(ctx, in, t, nil)
}

func (m *Manager) task(rollout string, man proto.Manifest, env []byte, withdrawn context.Context) *Task {
	t := &Task{Rollout: rollout, Manifest: man, Envelope: env, Trust: m.cfg.Keys, Pause: m.cfg.Pause, withdrawn: withdrawn}
	t.Report = func(state string, fill func(*proto.Install)) { m.report(rollout, man, state, fill) }
	return t
}

// finish runs an install (or, with pre set, abandons it for that reason)
// and records and reports its final state.
func (m *Manager) finish(ctx context.Context, in Installer, t *Task, pre error) {
	var out Outcome
	if pre != nil {
		out = Outcome{State: proto.InstallRolledBack, Reason: pre.Error()}
		if err := in.Abandon(t); err != nil {
			m.log.Error("abandon install", "name", t.Manifest.Name, "err", err)
			out.Reason += "; cleanup: " + err.Error()
		}
	} else {
		var err error
		out, err = in.Install(ctx, t)
		if err != nil {
			m.log.Info("install interrupted by shutdown; it resumes at the next start", "name", t.Manifest.Name, "version", t.Manifest.Version)
			return
		}
	}
	r := m.report(t.Rollout, t.Manifest, out.State, func(r *proto.Install) {
		if out.Tamper != nil {
			out.Tamper.fill(r)
		}
		r.Reason, r.LatencyMS = out.Reason, out.LatencyMS
		if out.State == proto.InstallCommitted {
			r.Bytes = t.Manifest.Size
		}
	})
	if out.State == proto.InstallCancelled {
		// Not an outcome of the manifest: the host may send it again.
		return
	}
	if err := m.saveFinal(t.Manifest, t.Envelope, r); err != nil {
		m.log.Error("cannot record the install outcome", "err", err)
	}
}

func (m *Manager) refuse(rollout string, man proto.Manifest, reason string) {
	m.log.Warn("deploy refused", "rollout", rollout, "reason", reason)
	m.report(rollout, man, proto.InstallRefused, func(r *proto.Install) { r.Reason = reason })
}

// report builds, logs and sends one Install.
func (m *Manager) report(rollout string, man proto.Manifest, state string, fill func(*proto.Install)) *proto.Install {
	r := &proto.Install{Agent: m.cfg.Agent, Rollout: rollout, Kind: man.Kind, Name: man.Name, Version: man.Version,
		State: state, Size: man.Size}
	if fill != nil {
		fill(r)
	}
	if len(r.Reason) > 4000 {
		r.Reason = r.Reason[:4000]
	}
	r.Time = time.Now().UTC()
	m.log.Info("install", "rollout", rollout, "name", man.Name, "version", man.Version, "state", state, "reason", r.Reason)
	m.cfg.Report(r)
	return r
}

// Final outcomes are kept per (kind, name, version), with the hash of the
// signed manifest that led to them, so a re-delivered Deploy is answered
// without installing again.
type final struct {
	proto.Install
	envelope string
}

type finalFile struct {
	Envelope string         `json:"envelope_sha256"`
	Install  *proto.Install `json:"install"`
}

func envelopeHash(env []byte) string {
	h := sha256.Sum256(env)
	return hex.EncodeToString(h[:])
}

func (m *Manager) finalPath(man proto.Manifest) string {
	return filepath.Join(m.cfg.Dir, "installs", "final", man.Kind+"."+man.Name+"."+strconv.FormatUint(man.Version, 10)+".json")
}

func (m *Manager) saveFinal(man proto.Manifest, env []byte, r *proto.Install) error {
	b, err := json.Marshal(finalFile{Envelope: envelopeHash(env), Install: r})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.finalPath(man), b)
}

func (m *Manager) loadFinal(man proto.Manifest) (*final, error) {
	b, err := os.ReadFile(m.finalPath(man))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f finalFile
	if err := json.Unmarshal(b, &f); err != nil || f.Install == nil {
		return nil, fmt.Errorf("%s: unreadable: %v", m.finalPath(man), err)
	}
	return &final{Install: *f.Install, envelope: f.Envelope}, nil
}

// checkMinVersion refuses an agent older than min. Versions are dotted
// numbers with an optional "v" prefix and "-suffix"; a development build
// ("dev") has no number and is let through, since it is built from the tree.
func checkMinVersion(have, min string) error {
	if min == "" {
		return nil
	}
	want, ok := parseVersion(min)
	if !ok {
		return fmt.Errorf("min_agent_version %q is not a dotted version", min)
	}
	got, ok := parseVersion(have)
	if !ok {
		return nil
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w int
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			if g < w {
				return fmt.Errorf("agent version %s is older than the required %s", have, min)
			}
			return nil
		}
	}
	return nil
}

func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil, false
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// HTTPClient is the client downloads use unless an installer is given
// another: no overall timeout (artifacts can be large), but a bounded wait
// for response headers so a dead server is noticed.
func HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}
}
