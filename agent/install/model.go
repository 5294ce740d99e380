package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime"
	"edgenas/runtime/backends"
)

// Store file names.
const (
	ModelFile    = "model.tflite"
	ManifestFile = "manifest.sig"
	CurrentFile  = "current"
	JournalFile  = "install.json"
	PartialDir   = ".partial"
)

// Journal states beyond the reported ones: a crash while rolling back or
// committing is finished by recovery, never re-run from the start.
const (
	stateRollingBack = "rolling_back"
	stateCommitting  = "committing"
)

// checkRetries is how many health checks may be interrupted (the agent
// killed or crashed during one) before the version is rolled back: a model
// that takes the agent down must not do so forever.
const checkRetries = 2

// ModelsConfig configures the model installer.
type ModelsConfig struct {
	// Dir is the agent's data dir; the store is Dir/models.
	Dir string
	// Backend runs the health check ("ref", "xnnpack").
	Backend string
	// Tool, when set, runs the health check with TFLite's benchmark_model
	// instead of Backend (an agent timing with the tool): any model the tool
	// runs is accepted, and only timing checks can be held (ToolHealthCheck).
	Tool *benchmodel.Options
	// Client downloads artifacts (nil: HTTPClient()).
	Client *http.Client
	// Protocol times the health check (zero: CheckProtocol()).
	Protocol profiler.Protocol
	// Attempts and Backoff bound download retries (see Download).
	Attempts int
	Backoff  time.Duration
	Logger   *slog.Logger
}

// Models installs .tflite models into DATA/models/NAME/VERSION with a
// "current" file naming the committed version. It is the installer of
// proto.ManifestModel.
type Models struct {
	cfg  ModelsConfig
	root string
	be   runtime.Backend
	log  *slog.Logger
}

// journal is DATA/models/NAME/install.json: the install in progress.
type journal struct {
	Rollout string `json:"rollout"`
	// Envelope is the signed manifest, so recovery can re-verify it.
	Envelope  []byte  `json:"envelope"`
	Version   uint64  `json:"version"`
	Previous  uint64  `json:"previous"`
	State     string  `json:"state"`
	Checks    int     `json:"checks"`
	Reason    string  `json:"reason,omitempty"`
	Outcome   string  `json:"outcome,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// Tamper is set when the install is rolled back as tampered, so a
	// rollback finished by recovery reports the same details.
	Tamper  *Tamper   `json:"tamper,omitempty"`
	Started time.Time `json:"started"`
}

// NewModels opens (creating) the model store.
func NewModels(cfg ModelsConfig) (*Models, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("models: no data dir")
	}
	if cfg.Backend == "" {
		cfg.Backend = "ref"
	}
	be, err := backends.Lookup(cfg.Backend)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	if cfg.Protocol.MinRuns == 0 {
		cfg.Protocol = CheckProtocol()
	}
	if cfg.Client == nil {
		cfg.Client = HTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	root := filepath.Join(cfg.Dir, "models")
	if err := os.MkdirAll(filepath.Join(root, PartialDir), 0o755); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return &Models{cfg: cfg, root: root, be: be, log: log}, nil
}

// Root is the store directory (DATA/models).
func (s *Models) Root() string { return s.root }

func (s *Models) dir(name string) string { return filepath.Join(s.root, name) }

func (s *Models) versionDir(name string, v uint64) string {
	return filepath.Join(s.root, name, strconv.FormatUint(v, 10))
}

func (s *Models) stageDir(name string, v uint64) string {
	return filepath.Join(s.root, name, "."+strconv.FormatUint(v, 10)+".staging")
}

func (s *Models) partial(sha string) string { return filepath.Join(s.root, PartialDir, sha) }

// Committed reads DATA/models/NAME/current (0 when nothing is committed).
func (s *Models) Committed(name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(s.dir(name), CurrentFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("models: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("models: %s: %w", filepath.Join(s.dir(name), CurrentFile), err)
	}
	return v, nil
}

// CurrentModel is the path of the committed model file of name.
func (s *Models) CurrentModel(name string) (string, uint64, error) {
	v, err := s.Committed(name)
	if err != nil || v == 0 {
		return "", 0, err
	}
	return filepath.Join(s.versionDir(name, v), ModelFile), v, nil
}

func (s *Models) loadJournal(name string) (*journal, error) {
	p := filepath.Join(s.dir(name), JournalFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil || j.Version == 0 {
		return nil, fmt.Errorf("models: journal %s unreadable: %v", p, err)
	}
	return &j, nil
}

func (s *Models) saveJournal(name string, j *journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir(name), JournalFile), b); err != nil {
		return fmt.Errorf("models: journal: %w", err)
	}
	return nil
}

// manifestOf reads the manifest inside an envelope without checking the
// signature: the manager checks it, this only needs the fields.
func manifestOf(env []byte) (proto.Manifest, error) {
	var e signing.Envelope
	var m proto.Manifest
	if err := json.Unmarshal(env, &e); err != nil {
		return m, fmt.Errorf("manifest envelope: %w", err)
	}
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// Interrupted lists the journals left by a previous run.
func (s *Models) Interrupted() ([]*Task, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	var out []*Task
	for _, e := range entries {
		if !e.IsDir() || proto.ValidID(e.Name()) != nil {
			continue
		}
		j, err := s.loadJournal(e.Name())
		if err != nil {
			// atomicfile never leaves a torn journal; this is outside damage.
			p := filepath.Join(s.dir(e.Name()), JournalFile)
			s.log.Error("moving an unreadable journal aside", "path", p, "err", err)
			os.Rename(p, p+".bad")
			continue
		}
		if j == nil {
			s.removeStaging(e.Name())
			continue
		}
		m, err := manifestOf(j.Envelope)
		if err != nil || m.Name != e.Name() || m.Version != j.Version {
			m = proto.Manifest{Kind: proto.ManifestModel, Name: e.Name(), Version: j.Version}
		}
		out = append(out, &Task{Rollout: j.Rollout, Manifest: m, Envelope: j.Envelope})
	}
	return out, nil
}

// removeStaging deletes staging directories no journal refers to.
func (s *Models) removeStaging(name string) {
	ms, _ := filepath.Glob(filepath.Join(s.dir(name), ".*.staging"))
	for _, p := range ms {
		os.RemoveAll(p)
	}
}

// Abandon rolls back an interrupted install without running it.
func (s *Models) Abandon(t *Task) error {
	j, err := s.loadJournal(t.Manifest.Name)
	if err != nil || j == nil {
		return err
	}
	_, err = s.rollback(t, j, proto.InstallRolledBack, "abandoned")
	return err
}

// Install runs (or resumes) the install of t.Manifest.
func (s *Models) Install(ctx context.Context, t *Task) (Outcome, error) {
	man := t.Manifest
	name, v := man.Name, man.Version
	if err := s.acceptCheck(man); err != nil {
		return Outcome{State: proto.InstallRefused, Reason: err.Error()}, nil
	}
	if err := os.MkdirAll(s.dir(name), 0o755); err != nil {
		return Outcome{State: proto.InstallRolledBack, Reason: fmt.Sprintf("store: %v", err)}, nil
	}
	j, err := s.loadJournal(name)
	if err != nil {
		return Outcome{State: proto.InstallRolledBack, Reason: err.Error()}, nil
	}
	if j != nil && j.Version != v {
		// An older install of this name never finished: it loses.
		if _, err := s.rollback(&Task{Manifest: proto.Manifest{Name: name, Version: j.Version}}, j, proto.InstallRolledBack,
			fmt.Sprintf("superseded by version %d", v)); err != nil {
			return Outcome{State: proto.InstallRolledBack, Reason: err.Error()}, nil
		}
		j = nil
	}
	if j == nil {
		prev, err := s.Committed(name)
		if err != nil {
			return Outcome{State: proto.InstallRolledBack, Reason: err.Error()}, nil
		}
		j = &journal{Rollout: t.Rollout, Envelope: t.Envelope, Version: v, Previous: prev, State: proto.InstallReceived,
			Started: time.Now().UTC()}
		if err := s.saveJournal(name, j); err != nil {
			return Outcome{State: proto.InstallRolledBack, Reason: err.Error()}, nil
		}
	}
	switch j.State {
	case stateRollingBack:
		return s.rollback(t, j, j.Outcome, j.Reason)
	case stateCommitting:
		return s.commit(t, j)
	}
	fail := func(state, reason string) (Outcome, error) { return s.rollback(t, j, state, reason) }
	step := func(state string) error {
		j.State = state
		if err := s.saveJournal(name, j); err != nil {
			return err
		}
		t.Report(state, nil)
		return nil
	}

	vdir, stage := s.versionDir(name, v), s.stageDir(name, v)
	if verifyFile(filepath.Join(vdir, ModelFile), man) != nil {
		if verifyFile(filepath.Join(stage, ModelFile), man) != nil {
			// Download (resuming a partial file) and verify.
			part := s.partial(man.SHA256)
			if verifyFile(part, man) != nil {
				if err := step(proto.InstallDownloading); err != nil {
					return fail(proto.InstallRolledBack, err.Error())
				}
				if err := s.download(ctx, t, part); err != nil {
					if ctx.Err() != nil {
						return Outcome{}, ctx.Err()
					}
					if errors.Is(err, ErrArtifact) {
						os.Remove(part)
						return fail(proto.InstallRefused, fmt.Sprintf("size: %v", err))
					}
					if errors.Is(err, ErrUntrusted) {
						return fail(proto.InstallRefused, err.Error())
					}
					if errors.Is(err, ErrWithdrawn) {
						return fail(proto.InstallCancelled, err.Error())
					}
					return fail(proto.InstallRolledBack, err.Error())
				}
				if err := step(proto.InstallVerifying); err != nil {
					return fail(proto.InstallRolledBack, err.Error())
				}
				if err := verifyFile(part, man); err != nil {
					os.Remove(part) // bad bytes must not be resumed from
					return fail(proto.InstallRefused, err.Error())
				}
			}
			if err := s.runnable(part); err != nil {
				os.Remove(part) // verified but unusable here: nothing to resume
				return fail(proto.InstallRefused, err.Error())
			}
			if err := step(proto.InstallInstalling); err != nil {
				return fail(proto.InstallRolledBack, err.Error())
			}
			if err := s.stage(t, part, stage); err != nil {
				return fail(proto.InstallRolledBack, fmt.Sprintf("install: %v", err))
			}
		} else if err := step(proto.InstallInstalling); err != nil {
			return fail(proto.InstallRolledBack, err.Error())
		}
		t.pause(proto.InstallInstalling)
		os.RemoveAll(vdir) // an incomplete directory from outside damage
		if err := os.Rename(stage, vdir); err != nil {
			return fail(proto.InstallRolledBack, fmt.Sprintf("install: %v", err))
		}
		if err := syncDir(s.dir(name)); err != nil {
			return fail(proto.InstallRolledBack, fmt.Sprintf("install: %v", err))
		}
	}

	j.Checks++
	if j.Checks > checkRetries {
		return fail(proto.InstallRolledBack, fmt.Sprintf("health check interrupted %d times (the agent crashed or was killed during it)", j.Checks-1))
	}
	if err := step(proto.InstallChecking); err != nil {
		return fail(proto.InstallRolledBack, err.Error())
	}
	// The file was verified when it was downloaded; it is hashed again
	// right before it is run, so nothing changed on disk since is executed.
	if tp := s.tamperOf(filepath.Join(vdir, ModelFile), man, t.Envelope); tp != nil {
		tp.Reason = "before the health check: " + tp.Reason
		j.Tamper = tp
		return fail(proto.InstallTampered, tp.Reason)
	}
	lat, err := s.healthCheck(ctx, filepath.Join(vdir, ModelFile), man)
	if ctx.Err() != nil {
		// A clean shutdown is not the model's fault: do not count it.
		j.Checks--
		s.saveJournal(name, j)
		return Outcome{}, ctx.Err()
	}
	if err != nil {
		return fail(proto.InstallRolledBack, err.Error())
	}
	t.pause(proto.InstallChecking)
	j.LatencyMS = lat
	return s.commit(t, j)
}

// download fetches the artifact into part, reporting progress at each
// quarter of the size.
func (s *Models) download(ctx context.Context, t *Task, part string) error {
	man := t.Manifest
	quarter := int64(-1)
	first := true
	d := &Download{Client: s.cfg.Client, URL: man.URL, Path: part, Size: man.Size, Attempts: s.cfg.Attempts, Backoff: s.cfg.Backoff,
		Progress: func(have int64) {
			if q := have * 4 / man.Size; q > quarter {
				quarter = q
				t.Report(proto.InstallDownloading, func(r *proto.Install) { r.Bytes = have })
			}
			if first {
				first = false
				t.pause(proto.InstallDownloading)
			}
		}}
	return t.Download(ctx, d)
}

// stage moves the verified download and the signed manifest into the
// staging directory, durably, ready to be renamed into place.
func (s *Models) stage(t *Task, part, stage string) error {
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	if err := os.Rename(part, filepath.Join(stage, ModelFile)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(stage, ManifestFile), t.Envelope); err != nil {
		return err
	}
	if err := syncDir(stage); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(s.root, PartialDir)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(stage))
}

// commit switches current to the new version, then forgets the journal and
// every version but the current and previous one.
func (s *Models) commit(t *Task, j *journal) (Outcome, error) {
	name := t.Manifest.Name
	j.State = stateCommitting
	if err := s.saveJournal(name, j); err != nil {
		return s.rollback(t, j, proto.InstallRolledBack, err.Error())
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir(name), CurrentFile), []byte(strconv.FormatUint(j.Version, 10)+"\n")); err != nil {
		return s.rollback(t, j, proto.InstallRolledBack, fmt.Sprintf("commit: %v", err))
	}
	if err := os.Remove(filepath.Join(s.dir(name), JournalFile)); err != nil {
		// current is switched, so this is committed; the journal left behind
		// says "committing" and the next start only re-confirms it.
		s.log.Error("commit: cannot remove the journal", "err", err)
	}
	s.prune(name, j.Version, j.Previous)
	return Outcome{State: proto.InstallCommitted, LatencyMS: j.LatencyMS}, nil
}

// rollback makes the previous version current again, removes what the
// install added, and forgets the journal. It is journaled itself, so a
// crash half way is finished by recovery with the same reason.
func (s *Models) rollback(t *Task, j *journal, state, reason string) (Outcome, error) {
	name := t.Manifest.Name
	out := Outcome{State: state, Reason: reason, Tamper: j.Tamper}
	if j.State != stateRollingBack {
		j.State, j.Outcome, j.Reason = stateRollingBack, state, reason
		if err := s.saveJournal(name, j); err != nil {
			s.log.Error("cannot journal the rollback; doing it anyway", "err", err)
		}
	}
	cur := filepath.Join(s.dir(name), CurrentFile)
	var err error
	if j.Previous > 0 {
		err = atomicfile.WriteFile(cur, []byte(strconv.FormatUint(j.Previous, 10)+"\n"))
	} else if rerr := os.Remove(cur); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		out.Reason += fmt.Sprintf("; rollback: %v", err)
		return out, nil // the journal stays: the next start tries again
	}
	if j.Version != j.Previous {
		os.RemoveAll(s.versionDir(name, j.Version))
	}
	os.RemoveAll(s.stageDir(name, j.Version))
	if err := os.Remove(filepath.Join(s.dir(name), JournalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		out.Reason += fmt.Sprintf("; rollback: %v", err)
	}
	syncDir(s.dir(name))
	return out, nil
}

// prune removes version directories other than keep.
func (s *Models) prune(name string, keep ...uint64) {
	entries, _ := os.ReadDir(s.dir(name))
	for _, e := range entries {
		v, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		kept := false
		for _, k := range keep {
			kept = kept || k == v
		}
		if !kept {
			os.RemoveAll(filepath.Join(s.dir(name), e.Name()))
		}
	}
	s.removeStaging(name)
	s.pruneTampered(name)
}

// Check verifies the store of name is consistent: no install in progress,
// no staging left over, and (if something is committed) the current
// version's model matches the manifest stored next to it. It returns the
// committed version and the versions present.
func (s *Models) Check(name string) (uint64, []uint64, error) {
	if j, err := s.loadJournal(name); err != nil || j != nil {
		return 0, nil, fmt.Errorf("%s: install journal present (%v)", name, err)
	}
	if ms, _ := filepath.Glob(filepath.Join(s.dir(name), ".*.staging")); len(ms) > 0 {
		return 0, nil, fmt.Errorf("%s: staging left over: %v", name, ms)
	}
	cur, err := s.Committed(name)
	if err != nil {
		return 0, nil, err
	}
	var versions []uint64
	entries, _ := os.ReadDir(s.dir(name))
	for _, e := range entries {
		if v, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && e.IsDir() {
			versions = append(versions, v)
			env, err := os.ReadFile(filepath.Join(s.versionDir(name, v), ManifestFile))
			if err != nil {
				return 0, nil, fmt.Errorf("%s/%d: %w", name, v, err)
			}
			m, err := manifestOf(env)
			if err != nil {
				return 0, nil, fmt.Errorf("%s/%d: %w", name, v, err)
			}
			if err := verifyFile(filepath.Join(s.versionDir(name, v), ModelFile), m); err != nil {
				return 0, nil, fmt.Errorf("%s/%d: %w", name, v, err)
			}
		}
	}
	sort.Slice(versions, func(a, b int) bool { return versions[a] < versions[b] })
	if cur != 0 {
		found := false
		for _, v := range versions {
			found = found || v == cur
		}
		if !found {
			return 0, nil, fmt.Errorf("%s: current names version %d, which is not in the store", name, cur)
		}
	}
	return cur, versions, nil
}

// verifyFile checks a file's size and sha256 against the manifest.
func verifyFile(path string, man proto.Manifest) error {
	size, sum, err := hashFile(path)
	if err != nil {
		return err
	}
	if size != man.Size {
		return fmt.Errorf("size: %d bytes, manifest says %d", size, man.Size)
	}
	if sum != man.SHA256 {
		return fmt.Errorf("sha256 mismatch: got %s, manifest says %s", sum, man.SHA256)
	}
	return nil
}

// syncDir makes renames and creations inside dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
