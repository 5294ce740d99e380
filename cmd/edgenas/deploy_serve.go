package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/fleet/serve"
	"edgenas/internal/signing"
)

// deployToServe registers the rollout with the edgenas serve that owns the
// state directory, if one is running (and --in-process is not given), and
// says which way the rollout runs. done reports that serve took it.
func deployToServe(ctx context.Context, e *env, d *deployFlags, st *rollout.Store, log *slog.Logger) (done bool, err error) {
	if d.inProcess {
		fmt.Fprintf(e.stderr, "deploy: --in-process: running the rollout in this process (it stops when this command does)\n")
		return false, nil
	}
	info, err := serve.Discover(ctx, st.Dir())
	if errors.Is(err, serve.ErrNotRunning) {
		fmt.Fprintf(e.stderr, "deploy: no edgenas serve owns %s: running the rollout in this process (it stops when this command does)\n", st.Dir())
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, f := range []string{"listen", "advertise"} {
		if setFlag(d, f) {
			return false, usagef("--%s is for an in-process deploy; edgenas serve (pid %d) serves the artifacts at %s (or add --in-process)",
				f, info.PID, info.Artifacts)
		}
	}
	key, err := hostKey(&d.kf)
	if err != nil {
		return false, err
	}
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
	return true, printRollout(e.stdout, r, d.asJSON)
}

// registerWithServe uploads the artifact to serve, plans and signs the
// rollout against serve's artifact URL, and registers it.
func registerWithServe(ctx context.Context, e *env, d *deployFlags, st *rollout.Store, c *serve.Client,
	log *slog.Logger) (*rollout.Rollout, error) {
	ref, err := c.UploadArtifact(ctx, d.model+d.bundle)
	if err != nil {
		return nil, err
	}
	conn, err := rollout.Dial(ctx, proto.ConnConfig{Broker: d.hf.broker, Username: d.hf.user, Password: d.hf.password}, log)
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
