package fleettest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/internal/signing"
)

// agentProcessEnv carries an AgentSpec, as JSON, to the re-executed test
// binary.
const agentProcessEnv = "EDGENAS_TEST_AGENT_PROCESS"

// AgentSpec is how StartAgent configures a real agent process.
type AgentSpec struct {
	Broker  string
	ID      string
	DataDir string
	// Trust is the host's public key file ("" trusts no key).
	Trust string
	// PauseAt freezes the agent's install at that point (proto.Install*
	// state), after it creates PauseFile, until the process is killed.
	PauseAt   string
	PauseFile string
}

// AgentMain lets a test binary double as an agent process: call it first in
// TestMain. In a process that StartAgent started, it runs the agent it was
// given (configure adds what the package's tests need, such as a fake
// measuring function) until SIGTERM, and exits; otherwise it returns at once.
func AgentMain(configure func(*agent.Config)) {
	spec, ok := os.LookupEnv(agentProcessEnv)
	if !ok {
		return
	}
	var p AgentSpec
	if err := json.Unmarshal([]byte(spec), &p); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", agentProcessEnv, err)
		os.Exit(2)
	}
	if err := runAgent(p, configure); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runAgent(p AgentSpec, configure func(*agent.Config)) error {
	cfg := agent.Config{Broker: p.Broker, ID: p.ID, Password: AgentPassword, DataDir: p.DataDir, Backend: "ref",
		Version: "1.0.0", Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond}
	if p.Trust != "" {
		pub, err := signing.LoadPublic(p.Trust)
		if err != nil {
			return err
		}
		cfg.Trust = pub
	}
	if p.PauseAt != "" {
		cfg.InstallPause = func(point string) {
			if point == p.PauseAt {
				os.WriteFile(p.PauseFile, []byte(point), 0o644)
				select {} // frozen until killed
			}
		}
	}
	if configure != nil {
		configure(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// A process orphaned by a crashed test must not live on.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return a.Run(ctx)
}

// AgentProcess is a running agent process.
type AgentProcess struct {
	cmd *exec.Cmd
}

// StartAgent starts the test binary as the agent p describes (its TestMain
// must call AgentMain); it is killed when the test ends if still running.
func StartAgent(t testing.TB, p AgentSpec) *AgentProcess {
	t.Helper()
	spec, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentProcessEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent process %s: %v", p.ID, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &AgentProcess{cmd: cmd}
}

// Stop sends sig (SIGKILL as a crash, SIGTERM as a clean stop) and waits
// for the process to exit, returning how it exited.
func (a *AgentProcess) Stop(sig syscall.Signal) error {
	if err := a.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal agent process: %w", err)
	}
	return a.cmd.Wait()
}

// RunAgent runs an agent in this process until the returned stop is called
// (or the test ends); stop returns once Run has. A Run that fails on its
// own fails the test.
func RunAgent(t testing.TB, cfg agent.Config) (a *agent.Agent, stop func()) {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("agent %s: %v", cfg.ID, err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return a, stop
}
