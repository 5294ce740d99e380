package serve_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/fleet/serve"
)

// startServe runs serve in this process against b until the test ends.
func startServe(t *testing.T, b *fleettest.Broker, key fleettest.Key, state string) *serve.Client {
	t.Helper()
	return startServeWith(t, b, key, state, nil)
}

// startServeWith is startServe with edit applied to the configuration.
func startServeWith(t *testing.T, b *fleettest.Broker, key fleettest.Key, state string, edit func(*serve.Config)) *serve.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	infos := make(chan serve.Info, 1)
	done := make(chan error, 1)
	cfg := serve.Config{StateDir: state, Listen: "127.0.0.1:0", Trust: key.Public, Tick: 100 * time.Millisecond,
		Broker: proto.ConnConfig{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password}}
	if edit != nil {
		edit(&cfg)
	}
	go func() {
		done <- serve.Run(ctx, cfg, func(i serve.Info) { infos <- i })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case i := <-infos:
		return &serve.Client{API: i.API, Key: key.Private, Info: i}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve not up after 20 s")
	}
	return nil
}

// plan builds a rollout of the model at path, uploaded to c, for agents.
func plan(t *testing.T, c *serve.Client, key fleettest.Key, path, name string, version uint64, agents ...string) *rollout.Rollout {
	t.Helper()
	return planAt(t, c, key, path, name, version, "", agents...)
}

// planAt is plan with the artifact URL put in the manifest ("" for serve's).
func planAt(t *testing.T, c *serve.Client, key fleettest.Key, path, name string, version uint64, url string,
	agents ...string) *rollout.Rollout {
	t.Helper()
	ctx := context.Background()
	ref, err := c.UploadArtifact(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	art := rollout.Artifact{SHA256: ref.SHA256, Size: ref.Size, Path: path}
	if url == "" {
		url = ref.URL
	}
	created := time.Now().UTC()
	m, err := rollout.ModelManifest(art, rollout.ManifestOptions{Name: name, Version: version, URL: url, Backend: "ref",
		MaxDiff: rollout.DefaultMaxDiff, InputSeed: rollout.DefaultInputSeed, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	env, err := rollout.SignManifest(key.Private, m)
	if err != nil {
		t.Fatal(err)
	}
	var targets []rollout.Agent
	for _, a := range agents {
		targets = append(targets, rollout.Agent{ID: a})
	}
	return rollout.NewRollout(rollout.NewID(name, version, created), m, env, "all", targets, 1, 0, 60)
}

func writeModel(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(p, fleettest.LayerModel(t, key), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRegisterRefuses: serve takes only rollouts it can run as signed.
func TestRegisterRefuses(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	key, other := fleettest.NewKey(t), fleettest.NewKey(t)
	c := startServe(t, b, key, t.TempDir())
	m1, m2 := writeModel(t, "fc-input:512-output:10"), writeModel(t, "fc-input:256-output:10")
	good := plan(t, c, key, m1, "m", 1, "a1")
	ctx := context.Background()
	if _, err := c.Register(ctx, good); err != nil {
		t.Fatalf("register: %v", err)
	}
	if again, err := c.Register(ctx, good); err != nil || again.ID != good.ID {
		t.Errorf("registering the same rollout again: %v", err)
	}
	cases := []struct {
		name   string
		client *serve.Client
		ro     func() *rollout.Rollout
		want   string
	}{
		{name: "unsigned request", client: &serve.Client{API: c.API}, want: "401",
			ro: func() *rollout.Rollout { return plan(t, c, key, m1, "m", 2, "a1") }},
		{name: "request signed by another key", client: &serve.Client{API: c.API, Key: other.Private}, want: "401",
			ro: func() *rollout.Rollout { return plan(t, c, key, m1, "m", 2, "a1") }},
		{name: "manifest signed by another key", client: c, want: "another key",
			ro: func() *rollout.Rollout { return plan(t, c, other, m1, "m", 2, "a1") }},
		{name: "version reused with other bytes", client: c, want: "already deployed with other bytes",
			ro: func() *rollout.Rollout { return plan(t, c, key, m2, "m", 1, "a1") }},
		{name: "artifact served elsewhere", client: c, want: "hands out", ro: func() *rollout.Rollout {
			return planAt(t, c, key, m1, "m", 3, "http://192.0.2.1/artifacts/x", "a1")
		}},
		{name: "fields differ from the manifest", client: c, want: "differ from its signed manifest", ro: func() *rollout.Rollout {
			r := plan(t, c, key, m1, "m", 3, "a1")
			r.Version = 4
			return r
		}},
		{name: "device twice", client: c, want: "listed twice", ro: func() *rollout.Rollout {
			return plan(t, c, key, m1, "m", 3, "a1", "a1")
		}},
		{name: "reserved id", client: c, want: "latest", ro: func() *rollout.Rollout {
			r := plan(t, c, key, m1, "m", 3, "a1")
			r.ID = serve.Latest
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Register(ctx, tc.ro())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := c.Rollout(ctx, "no-such-rollout"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown rollout: %v", err)
	}
}

// TestResyncAfterBrokerRestart: the broker loses every retained message
// while serve runs (a broker without a store); once serve is connected
// again it re-sends the deploy, so an agent that only starts afterwards
// still installs and the rollout completes.
func TestResyncAfterBrokerRestart(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	key := fleettest.NewKey(t)
	state := t.TempDir()
	c := startServe(t, b, key, state)
	r := plan(t, c, key, writeModel(t, "fc-input:512-output:10"), "m", 1, "a1")
	ctx := context.Background()
	if _, err := c.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	fleettest.Eventually(t, 10*time.Second, "the deploy to be sent", func() bool {
		s, err := c.Rollout(ctx, r.ID)
		return err == nil && s.Running && s.Devices[0].State == rollout.DeviceSent
	})
	b.Restart()
	a, _ := fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: "a1", Password: fleettest.AgentPassword,
		DataDir: t.TempDir(), Backend: "ref", Version: "test", Trust: key.Public, Heartbeat: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fleettest.Eventually(t, 30*time.Second, "the rollout to finish", func() bool {
		s, err := c.Rollout(ctx, serve.Latest)
		return err == nil && s.Phase == rollout.PhaseDone && !s.Running
	})
	if v, err := a.Models().Committed("m"); v != 1 || err != nil {
		t.Errorf("agent committed v%d (%v), want 1", v, err)
	}
	if _, err := c.Resume(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Errorf("resuming an ended rollout: %v", err)
	}
}

// TestOneServePerState: a second serve on the same state directory is
// refused, naming the holder; Discover tells a running serve from a stale,
// missing or damaged info file.
func TestOneServePerState(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	key := fleettest.NewKey(t)
	state := t.TempDir()
	startServe(t, b, key, state)
	err := serve.Run(context.Background(), serve.Config{StateDir: state, Listen: "127.0.0.1:0", Trust: key.Public,
		Broker: proto.ConnConfig{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password}}, nil)
	if err == nil || !strings.Contains(err.Error(), "another serve owns") || !strings.Contains(err.Error(), "held by process") {
		t.Errorf("second serve on one state: %v", err)
	}
	write := func(content string) string {
		dir := t.TempDir()
		if content != "" {
			if err := os.WriteFile(filepath.Join(dir, serve.InfoFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	ctx := context.Background()
	cases := []struct {
		name       string
		dir        string
		notRunning bool // the error wraps ErrNotRunning
		wantErr    string
	}{
		{name: "running", dir: state},
		{name: "no info file", dir: write(""), notRunning: true, wantErr: "no edgenas serve"},
		{name: "stale info file", dir: write(`{"pid": 1, "api": "http://127.0.0.1:1"}`), notRunning: true, wantErr: "does not answer"},
		{name: "damaged info file", dir: write(`{"pid": `), wantErr: "serve info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := serve.Discover(ctx, c.dir)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("discover: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || errors.Is(err, serve.ErrNotRunning) != c.notRunning):
				t.Fatalf("error %v, want one mentioning %q (not running: %v)", err, c.wantErr, c.notRunning)
			}
		})
	}
}

// TestRunRefusesConfig: a configuration serve cannot work with is refused
// at once with the reason, before anything connects.
func TestRunRefusesConfig(t *testing.T) {
	key := fleettest.NewKey(t)
	cases := []struct {
		name string
		cfg  serve.Config
		want string
	}{
		{name: "no key", cfg: serve.Config{StateDir: t.TempDir()}, want: "no host public key"},
		{name: "no state", cfg: serve.Config{Trust: key.Public}, want: "empty state directory"},
		{name: "bad advertise", cfg: serve.Config{StateDir: t.TempDir(), Trust: key.Public, Listen: "127.0.0.1:0",
			Advertise: "ftp://host/x"}, want: "--advertise"},
		{name: "every interface, no advertise", cfg: serve.Config{StateDir: t.TempDir(), Trust: key.Public, Listen: "127.0.0.1:0",
			ArtifactListen: "0.0.0.0:0"}, want: "every interface"},
		{name: "bad listen", cfg: serve.Config{StateDir: t.TempDir(), Trust: key.Public, Listen: "nowhere"}, want: "listen nowhere"},
		{name: "artifact TLS on the API address", cfg: serve.Config{StateDir: t.TempDir(), Trust: key.Public, Listen: "127.0.0.1:0",
			ArtifactTLS: &tls.Config{}}, want: "needs --artifact-listen"},
		{name: "artifact TLS advertised as http", cfg: serve.Config{StateDir: t.TempDir(), Trust: key.Public, Listen: "127.0.0.1:0",
			ArtifactListen: "127.0.0.1:0", ArtifactTLS: &tls.Config{}, Advertise: "http://127.0.0.1:8481"}, want: "speaks https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := serve.Run(context.Background(), c.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
