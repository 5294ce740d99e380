package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent"
	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/runtime/backends"
	"edgenas/fleet/fleettest"
	"edgenas/space"
	"edgenas/tflite"
)

// TestMain lets the test binary double as an agent process, so a test can
// SIGKILL a real agent at a chosen point of an install and start it again.
func TestMain(m *testing.M) {
	if os.Getenv("EDGENAS_TEST_DEPLOY_AGENT") == "1" {
		os.Exit(agentProcess())
	}
	os.Exit(m.Run())
}

// agentProcess runs an agent configured from the environment. With
// PAUSE_AT set, the install freezes at that point after creating
// PAUSE_FILE, so the parent can kill it there.
func agentProcess() int {
	pub, err := signing.LoadPublic(os.Getenv("TRUST"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := agent.Config{Broker: os.Getenv("BROKER"), ID: "dev1", Password: fleettest.AgentPassword,
		DataDir: os.Getenv("DATA_DIR"), Backend: "ref", Trust: pub, Version: "1.0.0",
		Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond}
	if at := os.Getenv("PAUSE_AT"); at != "" {
		cfg.InstallPause = func(point string) {
			if point == at {
				os.WriteFile(os.Getenv("PAUSE_FILE"), []byte(point), 0o644)
				select {} // frozen until killed
			}
		}
	}
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// rig is a broker, a host connection collecting install reports, a host
// key and an artifact server.
type rig struct {
	t      *testing.T
	broker *fleettest.Broker
	host   paho.Client
	key    ed25519.PrivateKey
	trust  string
	srv    *httptest.Server

	mu      sync.Mutex
	reports []proto.Install
	subs    chan struct{} // one per (re)subscription of the host
	files   map[string][]byte
	cut     map[string]bool // serve half, then hang, on the first request
	ranges  map[string][]string
}

func newRig(t *testing.T, kind string) *rig {
	t.Helper()
	r := &rig{t: t, files: map[string][]byte{}, cut: map[string]bool{}, ranges: map[string][]string{}}
	r.broker = fleettest.Start(t, kind, fleettest.Options{Agents: []string{"dev1"}})
	kd := t.TempDir()
	if _, err := signing.GenerateKey(kd, false); err != nil {
		t.Fatal(err)
	}
	r.trust = filepath.Join(kd, signing.PublicFile)
	key, err := signing.LoadPrivate(filepath.Join(kd, signing.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	r.key = key
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveArtifact))
	t.Cleanup(r.srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.subs = make(chan struct{}, 8)
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: r.broker.URL(), ClientID: "test-host",
		Username: fleettest.Host.Name, Password: fleettest.Host.Password, Retry: true,
		OnConnect: func(c paho.Client) {
			if err := proto.Subscribe(c, r.onInstall, proto.Filter(proto.KindInstall)); err != nil {
				t.Errorf("host subscribe: %v", err)
			}
			r.subs <- struct{}{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.host = c
	t.Cleanup(func() { c.Disconnect(100) })
	r.waitSubscribed()
	return r
}

func (r *rig) waitSubscribed() {
	r.t.Helper()
	select {
	case <-r.subs:
	case <-time.After(15 * time.Second):
		r.t.Fatal("host did not (re)subscribe")
	}
}

func (r *rig) onInstall(_ paho.Client, m paho.Message) {
	msg, err := proto.Decode(m.Topic(), m.Payload())
	if err != nil {
		r.t.Errorf("host got an invalid install report: %v", err)
		return
	}
	r.mu.Lock()
	r.reports = append(r.reports, *msg.(*proto.Install))
	r.mu.Unlock()
}

func (r *rig) serveArtifact(w http.ResponseWriter, req *http.Request) {
	sha := strings.TrimPrefix(req.URL.Path, "/artifacts/")
	r.mu.Lock()
	b, ok := r.files[sha]
	cut := r.cut[sha]
	r.cut[sha] = false
	r.ranges[sha] = append(r.ranges[sha], req.Header.Get("Range"))
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	if cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		<-req.Context().Done() // hang until the agent is killed
		return
	}
	http.ServeContent(w, req, "model.tflite", time.Time{}, strings.NewReader(string(b)))
}

// deploy serves body and publishes a retained Deploy of it, as the host does.
func (r *rig) deploy(rollout string, version uint64, body, expected []byte, cut bool) string {
	r.t.Helper()
	h := sha256.Sum256(body)
	sha := hex.EncodeToString(h[:])
	r.mu.Lock()
	r.files[sha], r.cut[sha] = body, cut
	r.mu.Unlock()
	man := proto.Manifest{Kind: proto.ManifestModel, Name: "m", Version: version, Size: int64(len(body)), SHA256: sha,
		URL: r.srv.URL + "/artifacts/" + sha, InputSeed: 9, Expected: expected, MaxDiff: 1, Created: time.Now().UTC()}
	env, err := signing.SignJSON(r.key, man)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := proto.Publish(ctx, r.host, proto.Topic("dev1", proto.KindDeploy), true, &proto.Deploy{Rollout: rollout, Manifest: env}); err != nil {
		r.t.Fatal(err)
	}
	return sha
}

// waitState waits for a report of rollout in state and returns it.
func (r *rig) waitState(rollout, state string, within time.Duration) proto.Install {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, x := range r.reports {
			if x.Rollout == rollout && x.State == state {
				r.mu.Unlock()
				return x
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("no %s report for %s within %v; reports: %v", state, rollout, within, r.seen(rollout))
	return proto.Install{}
}

func (r *rig) seen(rollout string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, x := range r.reports {
		if x.Rollout == rollout && (len(s) == 0 || s[len(s)-1] != x.State) {
			s = append(s, x.State)
		}
	}
	return s
}

func (r *rig) start(dir, pauseAt, pauseFile string) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EDGENAS_TEST_DEPLOY_AGENT=1", "BROKER="+r.broker.URL(), "DATA_DIR="+dir,
		"TRUST="+r.trust, "PAUSE_AT="+pauseAt, "PAUSE_FILE="+pauseFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

func stop(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	cmd.Process.Signal(sig)
	cmd.Wait()
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// model builds a small int8 classifier-like model (10 outputs) and its
// output on the fixed input, as the host computes it on the ref backend.
func model(t *testing.T, key string, seed uint64) ([]byte, []byte) {
	t.Helper()
	l, err := space.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := profiler.LayerModel(l)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tflite.Write(m)
	if err != nil {
		t.Fatal(err)
	}
	be, _ := backends.Lookup("ref")
	out, err := install.FixedOutput(be, m, seed)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// checkStore asserts the store is consistent with current == want and no
// install report is left undelivered.
func checkStore(t *testing.T, dir string, want uint64) {
	t.Helper()
	s, err := install.NewModels(install.ModelsConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cur, vs, err := s.Check("m")
	if err != nil {
		t.Fatalf("store inconsistent: %v", err)
	}
	if cur != want {
		t.Fatalf("current %d (versions %v), want %d", cur, vs, want)
	}
	if ps, _ := filepath.Glob(filepath.Join(dir, "models", install.PartialDir, "*")); len(ps) != 0 {
		t.Errorf("partial downloads left: %v", ps)
	}
	if ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json")); len(ps) != 0 {
		t.Errorf("undelivered install reports: %v", ps)
	}
}

// TestDeployKilledAndRestarted SIGKILLs a real agent process during the
// download, the install and the health check of version 2 (version 1 is
// committed), starts it again on the same data dir, and checks that it
// finishes the install and leaves a consistent store.
func TestDeployKilledAndRestarted(t *testing.T) {
	body1, exp1 := model(t, "fc-input:16-output:10", 9)
	body2, exp2 := model(t, "fc-input:512-output:10", 9)
	for _, point := range []string{proto.InstallDownloading, proto.InstallInstalling, proto.InstallChecking} {
		t.Run(point, func(t *testing.T) {
			r := newRig(t, fleettest.Embedded)
			dir := t.TempDir()
			a := r.start(dir, "", "")
			r.deploy("r1", 1, body1, exp1, false)
			r.waitState("r1", proto.InstallCommitted, 20*time.Second)
			stop(t, a, syscall.SIGTERM)

			pauseFile := filepath.Join(t.TempDir(), "paused")
			pauseAt := point
			if point == proto.InstallDownloading {
				pauseAt = "" // the artifact server hangs half way instead
			}
			a = r.start(dir, pauseAt, pauseFile)
			sha := r.deploy("r2", 2, body2, exp2, point == proto.InstallDownloading)
			if point == proto.InstallDownloading {
				part := filepath.Join(dir, "models", install.PartialDir, sha)
				waitFor(t, "half the artifact on disk", 20*time.Second, func() bool {
					fi, err := os.Stat(part)
					return err == nil && fi.Size() == int64(len(body2)/2)
				})
			} else {
				waitFor(t, "the agent to pause at "+point, 20*time.Second, func() bool {
					_, err := os.Stat(pauseFile)
					return err == nil
				})
			}
			stop(t, a, syscall.SIGKILL)
			if _, err := os.Stat(filepath.Join(dir, "models", "m", install.JournalFile)); err != nil {
				t.Fatalf("no install journal after the kill: %v", err)
			}
			r.waitState("r2", point, 5*time.Second) // the host saw how far it got

			a = r.start(dir, "", "")
			got := r.waitState("r2", proto.InstallCommitted, 30*time.Second)
			if got.Version != 2 || got.LatencyMS <= 0 {
				t.Fatalf("committed report %+v", got)
			}
			if point == proto.InstallDownloading {
				r.mu.Lock()
				rs := r.ranges[sha]
				r.mu.Unlock()
				if len(rs) != 2 || rs[1] != "bytes="+strconv.Itoa(len(body2)/2)+"-" {
					t.Errorf("artifact requests' Range headers %q, want a resume from %d", rs, len(body2)/2)
				}
			}
			stop(t, a, syscall.SIGTERM)
			checkStore(t, dir, 2)
			t.Logf("%s: host saw %v", point, r.seen("r2"))
		})
	}
}

// TestDeployRollbackOverBroker: a model failing its health check is rolled
// back, the previous one stays current, and the reason reaches the host;
// reports made while the broker is down arrive after it comes back. It runs
// on both brokers, so mosquitto's generated ACL is checked too.
func TestDeployRollbackOverBroker(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) { testRollbackOverBroker(t, kind) })
	}
}

func testRollbackOverBroker(t *testing.T, kind string) {
	body1, exp1 := model(t, "fc-input:16-output:10", 9)
	body2, exp2 := model(t, "fc-input:512-output:10", 9)
	r := newRig(t, kind)
	dir := t.TempDir()
	release := make(chan struct{})
	paused := make(chan struct{}, 1)
	pub, err := signing.LoadPublic(r.trust)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Broker: r.broker.URL(), ID: "dev1", Password: fleettest.AgentPassword, DataDir: dir,
		Backend: "ref", Trust: pub, Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond,
		InstallPause: func(point string) {
			if point == proto.InstallInstalling {
				paused <- struct{}{}
				<-release
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	r.deploy("r1", 1, body1, exp1, false)
	<-paused
	release <- struct{}{}
	r.waitState("r1", proto.InstallCommitted, 20*time.Second)

	bad := append([]byte(nil), exp2...)
	top := 0
	for i := range bad {
		if int8(bad[i]) > int8(bad[top]) {
			top = i
		}
	}
	bad[top], bad[(top+1)%len(bad)] = 0x80, 127
	r.deploy("r2", 2, body2, bad, false)
	<-paused
	// The broker goes away while the install goes on: its reports wait on disk.
	r.broker.Stop()
	release <- struct{}{}
	waitFor(t, "the rollback to be recorded", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "models", "m", install.JournalFile))
		return os.IsNotExist(err)
	})
	// Stop this agent before the broker returns, so the host is surely
	// subscribed again when the next one connects (install reports are not
	// retained: a host that is away misses them).
	cancel()
	<-done
	if ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json")); len(ps) == 0 {
		t.Fatal("no install report waiting while the broker was down")
	}
	r.broker.Restart()
	r.waitSubscribed()
	a2, err := agent.New(agent.Config{Broker: r.broker.URL(), ID: "dev1", Password: fleettest.AgentPassword, DataDir: dir,
		Backend: "ref", Trust: pub, Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); a2.Run(ctx2) }()
	got := r.waitState("r2", proto.InstallRolledBack, 30*time.Second)
	if !strings.Contains(got.Reason, "health check: top-1") {
		t.Fatalf("rollback reason %q", got.Reason)
	}
	r.waitState("r2", proto.InstallChecking, time.Second)
	waitFor(t, "the outbox to drain", 10*time.Second, func() bool {
		ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json"))
		return len(ps) == 0
	})
	cancel2()
	<-done2
	checkStore(t, dir, 1)
	if _, err := os.Stat(filepath.Join(dir, "models", "m", "2")); !os.IsNotExist(err) {
		t.Errorf("rolled-back version still in the store: %v", err)
	}
}
