package slots_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/bundle"
	"edgenas/firmware/slots"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

// build is the edgenas binary, built once by the first test that needs it
// (a run where every test skips builds nothing).
var build struct {
	once sync.Once
	dir  string
	bin  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// agentBinary returns the path and the bytes of the edgenas binary,
// building it on first use.
func agentBinary(t *testing.T) (string, []byte) {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "slots-test-"); build.err != nil {
			return
		}
		path := filepath.Join(build.dir, "edgenas")
		out, err := exec.Command("go", "build", "-o", path, "edgenas/cmd/edgenas").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("build edgenas: %v: %s", err, out)
			return
		}
		build.bin, build.err = os.ReadFile(path)
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return filepath.Join(build.dir, "edgenas"), build.bin
}

const agentID = "fw1"

// rig is one device (data dir with firmware v1 installed) and the host
// side of the fleet test kit.
type rig struct {
	*fleettest.Rig
	t    *testing.T
	data string
	bin  string // the edgenas binary
}

func newRig(t *testing.T) *rig {
	t.Helper()
	path, bin := agentBinary(t)
	r := &rig{Rig: fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{agentID}}), t: t,
		data: t.TempDir(), bin: path}
	st, err := slots.Open(r.data)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "v1.bundle")
	if err := os.WriteFile(p, r.bundle(1, bin), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InstallFirst(p, r.Key.Public, ""); err != nil {
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
	_, err := bundle.Create(&buf, r.Key.Private, bundle.Manifest{Version: version, AgentVersion: fmt.Sprint("v", version), Target: target,
		Backend: "ref", MinHostProtocol: 1, Binary: "bin/edgenas", Files: []bundle.File{{Path: "bin/edgenas", Exec: true}}, Created: time.Now().UTC()}, src)
	if err != nil {
		r.t.Fatal(err)
	}
	return buf.Bytes()
}

// target is this machine's GOOS/GOARCH, what every bundle here is built for.
const target = runtime.GOOS + "/" + runtime.GOARCH

// deploy serves b and publishes a signed agent deploy of it (rollout
// r<version>), retained, as `edgenas deploy --agent-bundle` does.
func (r *rig) deploy(version uint64, b []byte) {
	r.t.Helper()
	r.DeployAgent(r.t, agentID, rolloutOf(version), r.Artifacts.Add(r.t, b),
		rollout.ManifestOptions{Name: "agent", Version: version}, target)
}

func rolloutOf(version uint64) string { return fmt.Sprint("r", version) }

// wait returns the first report of version in state, failing after d.
func (r *rig) wait(version uint64, state string, d time.Duration) proto.Install {
	r.t.Helper()
	return r.Host.WaitState(r.t, rolloutOf(version), state, d)
}

func (r *rig) agentArgs() string {
	return strings.Join([]string{"--broker", r.Broker.URL(), "--id", agentID, "--class", "fwtest", "--backend", "ref",
		"--password", fleettest.AgentPassword, "--data-dir", filepath.Join(r.data, slots.AgentDir), "--trust", r.Key.PublicFile}, " ")
}

// supervise starts `edgenas firmware run` as its own process group.
func (r *rig) supervise(deadline time.Duration) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(r.bin, "firmware", "run", "--data", r.data, "--deadline", deadline.String(), "-v", "--agent-args", r.agentArgs())
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
