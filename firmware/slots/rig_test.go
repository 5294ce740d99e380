package slots_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/firmware/bundle"
	"edgenas/firmware/slots"
	"edgenas/internal/signing"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

// agentBin is the edgenas binary built once for all tests (TestMain).
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slots-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "edgenas")
	cmd := exec.Command("go", "build", "-o", agentBin, "edgenas/cmd/edgenas")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build edgenas:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const agentID = "fw1"

// rig is one device (data dir with firmware v1 installed) and a host: the
// broker, an artifact server, and a client that publishes deploys and
// collects install reports.
type rig struct {
	t      *testing.T
	data   string
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	broker *fleettest.Broker
	host   paho.Client
	srv    *httptest.Server

	mu        sync.Mutex
	artifacts map[string][]byte
	reports   []*proto.Install
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, data: t.TempDir(), artifacts: map[string][]byte{}}
	var err error
	if r.pub, r.priv, err = ed25519.GenerateKey(nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.data, "host.pub"), signing.EncodePublic(r.pub), 0o644); err != nil {
		t.Fatal(err)
	}
	r.broker = fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: []string{agentID}})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		r.mu.Lock()
		b, ok := r.artifacts[strings.TrimPrefix(q.URL.Path, "/artifacts/")]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, q)
			return
		}
		http.ServeContent(w, q, "a.bundle", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(r.srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.host, err = proto.Connect(ctx, proto.ConnConfig{Broker: r.broker.URL(), ClientID: "test-host", Username: fleettest.Host.Name, Password: fleettest.Host.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.host.Disconnect(100) })
	err = proto.Subscribe(r.host, func(_ paho.Client, m paho.Message) {
		v, err := proto.Decode(m.Topic(), m.Payload())
		if in, ok := v.(*proto.Install); ok && err == nil {
			r.mu.Lock()
			r.reports = append(r.reports, in)
			r.mu.Unlock()
		}
	}, proto.Topic(agentID, proto.KindInstall))
	if err != nil {
		t.Fatal(err)
	}
	st, err := slots.Open(r.data)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	first := r.bundle(1, bin)
	p := filepath.Join(t.TempDir(), "v1.bundle")
	if err := os.WriteFile(p, first, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InstallFirst(p, r.pub, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

// bundle makes a signed bundle whose agent binary is bin.
func (r *rig) bundle(version uint64, bin []byte) []byte {
	r.t.Helper()
	src := r.t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "edgenas"), bin, 0o755); err != nil {
		r.t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := bundle.Create(&buf, r.priv, bundle.Manifest{Version: version, AgentVersion: fmt.Sprint("v", version), Target: runtime.GOOS + "/" + runtime.GOARCH,
		Backend: "ref", MinHostProtocol: 1, Binary: "bin/edgenas", Files: []bundle.File{{Path: "bin/edgenas", Exec: true}}, Created: time.Now().UTC()}, src)
	if err != nil {
		r.t.Fatal(err)
	}
	return buf.Bytes()
}

// deploy serves b and publishes a signed agent manifest for it, retained.
func (r *rig) deploy(version uint64, b []byte) {
	r.t.Helper()
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	r.mu.Lock()
	r.artifacts[sha] = b
	r.mu.Unlock()
	// The manifest is built and signed as `edgenas deploy --agent-bundle` does.
	man, err := rollout.AgentManifest(rollout.Artifact{SHA256: sha, Size: int64(len(b))},
		rollout.ManifestOptions{Name: "agent", Version: version, URL: r.srv.URL + "/artifacts/" + sha}, runtime.GOOS+"/"+runtime.GOARCH)
	if err != nil {
		r.t.Fatal(err)
	}
	env, err := rollout.SignManifest(r.priv, man)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := proto.Publish(ctx, r.host, proto.Topic(agentID, proto.KindDeploy), true, &proto.Deploy{Rollout: fmt.Sprint("r", version), Manifest: env}); err != nil {
		r.t.Fatal(err)
	}
}

// wait returns the first report of version in state, failing after d.
func (r *rig) wait(version uint64, state string, d time.Duration) *proto.Install {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, in := range r.reports {
			if in.Version == version && in.State == state {
				r.mu.Unlock()
				return in
			}
		}
		r.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var got []string
	for _, in := range r.reports {
		got = append(got, fmt.Sprintf("v%d %s %s", in.Version, in.State, in.Reason))
	}
	r.t.Fatalf("no %s report for version %d within %s; reports: %q", state, version, d, got)
	return nil
}

func (r *rig) agentArgs() string {
	return strings.Join([]string{"--broker", r.broker.URL(), "--id", agentID, "--class", "fwtest", "--backend", "ref",
		"--password", fleettest.AgentPassword, "--data-dir", filepath.Join(r.data, slots.AgentDir), "--trust", filepath.Join(r.data, "host.pub")}, " ")
}

// supervise starts `edgenas firmware run` as its own process group.
func (r *rig) supervise(deadline time.Duration) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(agentBin, "firmware", "run", "--data", r.data, "--deadline", deadline.String(), "-v", "--agent-args", r.agentArgs())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.OpenFile(filepath.Join(r.data, "supervisor.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		log.Close()
		if r.t.Failed() {
			b, _ := os.ReadFile(filepath.Join(r.data, "supervisor.log"))
			r.t.Logf("supervisor log:\n%s", b)
		}
	})
	return cmd
}

// sigkill kills the supervisor; Pdeathsig takes its agent with it.
func sigkill(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}

func (r *rig) state() slots.State {
	r.t.Helper()
	st, err := slots.Open(r.data)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := st.State()
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}
