package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"edgenas/fleet/rollout"
	"edgenas/fleet/serve"
	"edgenas/internal/signing"
)

// deployToServe registers the rollout with the edgenas serve that owns the
// state directory, if one is running (and --in-process is not given), and
// says which way the rollout runs. done reports that serve took it.
func deployToServe(ctx context.Context, e *env, d *deployFlags, st *rollout.Store, log *slog.Logger) (done bool, err error) {
	info, err := serve.Discover(ctx, st.Dir())
	if d.inProcess {
		if err == nil && d.resume != "" {
			// Two engines on one rollout would both write its state.
			return false, usagef("--in-process --resume: edgenas serve (pid %d) owns %s; let it resume %s (drop --in-process)",
				info.PID, st.Dir(), d.resume)
		}
		fmt.Fprintf(e.stderr, "deploy: --in-process: running the rollout in this process (it stops when this command does)\n")
		return false, nil
	}
	if errors.Is(err, serve.ErrNotRunning) {
		fmt.Fprintf(e.stderr, "deploy: no edgenas serve owns %s: running the rollout in this process (it stops when this command does)\n", st.Dir())
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, f := range []string{"listen", "advertise", "artifact-tls-cert", "artifact-tls-key"} {
		if setFlag(d, f) {
			return false, usagef("--%s is for an in-process deploy; edgenas serve (pid %d) serves the artifacts at %s (or add --in-process)",
				f, info.PID, info.Artifacts)
		}
	}
	key, err := hostKey(&d.kf)
	if err != nil {
		return false, err
	}
	warnLoopback(e, info.Artifacts, "run serve with --artifact-listen HOST:PORT (and --advertise)")
	c := &serve.Client{API: info.API, Key: key, Info: *info}
	var r *rollout.Rollout
	if d.resume != "" {
		s, err := c.Resume(ctx, d.resume)
		if err != nil {
			return false, err
		}
		r = s.Rollout
	} else if r, err = registerWithServe(ctx, e, d, st, c, log); err != nil {
		return false, err
	}
	fmt.Fprintf(e.stderr, "deploy %s: registered with edgenas serve (pid %d, %s): it runs the rollout to its end, "+
		"devices offline now included (silent ones time out after %gs); follow with `edgenas deploy status --rollout %s --state %s`\n",
		r.ID, info.PID, info.API, r.TimeoutSecs, r.ID, st.Dir())
	if d.follow {
		return true, followServe(ctx, e, d, c, r.ID)
	}
	return true, printRollout(e.stdout, r, d.asJSON)
}

// followPoll is how often --follow asks serve for the rollout's state.
const followPoll = 500 * time.Millisecond

// followServe waits for a rollout serve runs to end, noting each change of
// its counts on stderr, then prints it and fails as an in-process deploy
// would (aborted, or any device failed). Interrupting it leaves the rollout
// running in serve.
func followServe(ctx context.Context, e *env, d *deployFlags, c *serve.Client, id string) error {
	last := ""
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		s, err := c.Rollout(ctx, id)
		if err != nil {
			return err
		}
		cnt := s.Counts()
		if now := fmt.Sprintf("phase %s: %d committed, %d failed, %d skipped, %d in progress of %d", s.Phase, cnt.Committed,
			cnt.Failed, cnt.Skipped, cnt.Pending, cnt.Total); now != last {
			fmt.Fprintf(e.stderr, "deploy %s: %s\n", id, now)
			last = now
		}
		if s.Phase == rollout.PhaseDone || s.Phase == rollout.PhaseAborted {
			if err := printRollout(e.stdout, s.Rollout, d.asJSON); err != nil {
				return err
			}
			if s.Phase == rollout.PhaseAborted {
				return fmt.Errorf("%w: %s", rollout.ErrAborted, s.Reason)
			}
			if cnt.Failed > 0 {
				return fmt.Errorf("rollout %s: %d of %d devices failed", id, cnt.Failed, cnt.Total)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following rollout %s; edgenas serve still runs it: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// registerWithServe uploads the artifact to serve, plans and signs the
// rollout against serve's artifact URL, and registers it.
func registerWithServe(ctx context.Context, e *env, d *deployFlags, st *rollout.Store, c *serve.Client,
	log *slog.Logger) (*rollout.Rollout, error) {
	ref, err := c.UploadArtifact(ctx, d.model+d.bundle)
	if err != nil {
		return nil, err
	}
	cc, err := d.hf.conn()
	if err != nil {
		return nil, err
	}
	conn, err := rollout.Dial(ctx, cc, log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	art := rollout.Artifact{SHA256: ref.SHA256, Size: ref.Size, Path: filepath.Join(st.ArtifactDir(), ref.SHA256)}
	r, err := planRollout(ctx, e, d, st, conn, art, ref.URL)
	if err != nil {
		return nil, err
	}
	return c.Register(ctx, r)
}

// hostKey loads the host's private signing key from the key directory.
func hostKey(kf *keysFlags) (ed25519.PrivateKey, error) {
	keyDir, err := kf.path()
	if err != nil {
		return nil, err
	}
	key, err := signing.LoadPrivate(filepath.Join(keyDir, signing.PrivateFile))
	if err != nil {
		return nil, fmt.Errorf("%w (create one with `edgenas keys init --dir %s`)", err, keyDir)
	}
	return key, nil
}

// statusFromServe reads the rollout from the serve that owns the state
// directory, which also says whether serve is driving it now. Without a
// running serve (or without the host key to ask it) the caller reads the
// state files, which serve rewrites atomically on every change.
func statusFromServe(ctx context.Context, e *env, d *deployFlags, st *rollout.Store) (bool, error) {
	info, err := serve.Discover(ctx, st.Dir())
	if err != nil {
		return false, nil
	}
	key, err := hostKey(&d.kf)
	if err != nil {
		fmt.Fprintf(e.stderr, "note: edgenas serve (pid %d) owns %s, but without the host key (%v) its state files are read instead\n",
			info.PID, st.Dir(), err)
		return false, nil
	}
	id := d.rolloutID
	if id == "" {
		id = serve.Latest
	}
	s, err := (&serve.Client{API: info.API, Key: key}).Rollout(ctx, id)
	if err != nil {
		return false, err
	}
	how := "not running (ended, or its artifact is not served here)"
	if s.Running {
		how = "running"
	}
	fmt.Fprintf(e.stderr, "edgenas serve (pid %d, %s): rollout %s %s\n", info.PID, info.API, s.ID, how)
	return true, printRollout(e.stdout, s.Rollout, d.asJSON)
}
