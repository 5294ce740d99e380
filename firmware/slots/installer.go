package slots

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
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/firmware/build"
	"edgenas/firmware/bundle"
	"edgenas/internal/signing"
)

// Installer is the agent-side installer of manifest Kind "agent" (register
// it with the agent's install registry): it downloads the bundle, verifies
// and unpacks it into the inactive slot, and hands over to the supervisor;
// the agent started from the new slot then probes its connection and marks
// itself good, and the supervisor commits or rolls back.
type Installer struct {
	Store *Store
	// Slot is the slot this agent runs from (the supervisor's EnvSlot).
	Slot string
	// Trust checks a bundle's signature when the task does not carry the
	// agent's keyring (install.Task.Trust, which follows key rotations and
	// wins when set).
	Trust signing.Verifier
	// Target is this device's GOOS/GOARCH; a bundle for another is refused.
	Target string
	// Probe checks that this agent can reach its broker with its
	// credentials and that its backend works; it runs in the new agent on trial.
	Probe  func(ctx context.Context) error
	Client *http.Client
	Poll   time.Duration
	Logger *slog.Logger
}

var _ install.Installer = (*Installer)(nil)

func (in *Installer) poll() time.Duration {
	if in.Poll <= 0 {
		return 200 * time.Millisecond
	}
	return in.Poll
}

func (in *Installer) log() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return in.Logger
}

// Committed is the version of the active slot's bundle.
func (in *Installer) Committed(string) (uint64, error) {
	st, err := in.Store.State()
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

// Interrupted returns the update in the journal, if any.
func (in *Installer) Interrupted() ([]*install.Task, error) {
	j, err := in.Store.Journal()
	if err != nil || j == nil {
		return nil, err
	}
	var env signing.Envelope
	var man proto.Manifest
	if err := json.Unmarshal(j.Envelope, &env); err != nil {
		return nil, fmt.Errorf("firmware journal envelope: %w", err)
	}
	// The manager verifies the signature again before anything is done.
	if err := json.Unmarshal(env.Payload, &man); err != nil {
		return nil, fmt.Errorf("firmware journal manifest: %w", err)
	}
	return []*install.Task{{Rollout: j.Rollout, Manifest: man, Envelope: j.Envelope}}, nil
}

// Abandon drops an interrupted update; the active slot stays.
func (in *Installer) Abandon(*install.Task) error { return in.Store.removeJournal() }

// Install takes an update through download, verification and staging, then
// waits for the supervisor's verdict on the trial.
func (in *Installer) Install(ctx context.Context, t *install.Task) (install.Outcome, error) {
	st, err := in.Store.State()
	if err != nil {
		return install.Outcome{State: proto.InstallRefused, Reason: err.Error()}, nil
	}
	j, err := in.Store.Journal()
	if err != nil {
		return install.Outcome{}, err
	}
	if j == nil || j.Version != t.Manifest.Version {
		if t.Manifest.Target != in.Target {
			return install.Outcome{State: proto.InstallRefused, Reason: fmt.Sprintf("wrong target: bundle is for %s, this device is %s", t.Manifest.Target, in.Target)}, nil
		}
		j = &Journal{Rollout: t.Rollout, Envelope: t.Envelope, Version: t.Manifest.Version, Slot: Other(st.Active), Phase: PhaseDownloading}
		if err := in.Store.saveJournal(j); err != nil {
			return install.Outcome{}, err
		}
	}
	if j.Phase == PhaseDownloading {
		out, err := in.stage(ctx, t, j, st)
		if err != nil || out.State != "" {
			return out, err
		}
	}
	t.Report(proto.InstallChecking, nil)
	pause(t, "checking")
	probed := false
	for {
		st, err := in.Store.State()
		if err != nil {
			return install.Outcome{}, err
		}
		if tr := st.Trial; tr != nil && tr.Version == j.Version {
			switch {
			case tr.Outcome == OutcomeCommitted:
				return in.finish(install.Outcome{State: proto.InstallCommitted})
			case tr.Outcome == OutcomeRolledBack:
				return in.finish(install.Outcome{State: proto.InstallRolledBack, Reason: tr.Reason})
			case tr.Slot == in.Slot && !probed:
				// This agent is the one on trial.
				if err := in.probe(ctx); err != nil {
					in.log().Warn("health probe failed; retrying until the supervisor's deadline", "err", err)
				} else {
					pause(t, "probed")
					if err := in.Store.MarkGood(in.Slot, j.Version); err != nil {
						return install.Outcome{}, err
					}
					probed = true
				}
			}
		} else if st.Version >= j.Version {
			return in.finish(install.Outcome{State: proto.InstallCommitted})
		}
		select {
		case <-ctx.Done():
			// The supervisor stops the old agent to start the new slot;
			// the journal stays, and whichever agent runs next finishes.
			return install.Outcome{}, ctx.Err()
		case <-time.After(in.poll()):
		}
	}
}

func (in *Installer) probe(ctx context.Context) error {
	if in.Probe == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return in.Probe(pctx)
}

func (in *Installer) finish(out install.Outcome) (install.Outcome, error) {
	if err := in.Store.removeJournal(); err != nil {
		return out, err
	}
	return out, nil
}

// stage downloads, verifies and unpacks the bundle into the journal's slot.
// A non-empty Outcome ends the install.
func (in *Installer) stage(ctx context.Context, t *install.Task, j *Journal, st State) (install.Outcome, error) {
	man := t.Manifest
	refuse := func(state, reason string) (install.Outcome, error) {
		os.Remove(filepath.Join(in.Store.Root(), partDir, man.SHA256))
		return in.finish(install.Outcome{State: state, Reason: reason})
	}
	part := filepath.Join(in.Store.Root(), partDir, man.SHA256)
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		return install.Outcome{}, err
	}
	t.Report(proto.InstallDownloading, func(r *proto.Install) { r.Size = man.Size })
	client := in.Client
	if client == nil {
		client = install.HTTPClient()
	}
	d := install.Download{Client: client, URL: man.URL, Path: part, Size: man.Size}
	if err := t.Download(ctx, &d); err != nil {
		if ctx.Err() != nil {
			return install.Outcome{}, ctx.Err()
		}
		if errors.Is(err, install.ErrArtifact) || errors.Is(err, install.ErrUntrusted) {
			return refuse(proto.InstallRefused, "download: "+err.Error())
		}
		if errors.Is(err, install.ErrWithdrawn) {
			return refuse(proto.InstallCancelled, err.Error())
		}
		return refuse(proto.InstallRolledBack, "download: "+err.Error())
	}
	pause(t, "downloaded")
	t.Report(proto.InstallVerifying, func(r *proto.Install) { r.Bytes, r.Size = man.Size, man.Size })
	sum, size, err := build.FileSHA256(part)
	if err != nil {
		return install.Outcome{}, err
	}
	if sum != man.SHA256 || size != man.Size {
		return refuse(proto.InstallRefused, fmt.Sprintf("sha256 mismatch: got %s (%d bytes), manifest says %s (%d bytes)", sum, size, man.SHA256, man.Size))
	}
	slot := in.Store.SlotDir(j.Slot)
	tmp := slot + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return install.Outcome{}, err
	}
	f, err := os.Open(part)
	if err != nil {
		return install.Outcome{}, err
	}
	trust := t.Trust
	if trust == nil {
		trust = in.Trust
	}
	bm, err := bundle.Extract(f, trust, bundle.Expect{Target: in.Target, Installed: st.Version}, tmp)
	f.Close()
	if err != nil {
		return refuse(proto.InstallRefused, err.Error())
	}
	if bm.Version != man.Version {
		os.RemoveAll(tmp)
		return refuse(proto.InstallRefused, fmt.Sprintf("bundle version %d != manifest version %d", bm.Version, man.Version))
	}
	t.Report(proto.InstallInstalling, nil)
	// The inactive slot is replaced only now that its successor verified.
	if err := os.RemoveAll(slot); err != nil {
		return install.Outcome{}, err
	}
	if err := os.Rename(tmp, slot); err != nil {
		return install.Outcome{}, err
	}
	j.Phase, j.Bundle = PhaseStaged, bm
	if err := in.Store.saveJournal(j); err != nil {
		return install.Outcome{}, err
	}
	os.Remove(part)
	pause(t, "staged")
	return install.Outcome{}, nil
}

// pause calls the task's test hook, if any, at a named point.
func pause(t *install.Task, point string) {
	if t.Pause != nil {
		t.Pause(point)
	}
}
