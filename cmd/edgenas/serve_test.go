package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/serve"
	"edgenas/internal/signing"
)

// freeLoopback returns a loopback address free now, to be reused by
// processes restarted on it.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serveRig is a broker and a serve, each a real process that the test can
// SIGKILL and start again on the same address and state.
type serveRig struct {
	brokerAddr, serveAddr string
	store, state, keys    string
	broker, serve         *cliProcess
}

func (r *serveRig) brokerURL() string { return "tcp://" + r.brokerAddr }

func (r *serveRig) startBroker(t *testing.T) {
	t.Helper()
	r.broker = startCLI(t, "broker", "--listen", r.brokerAddr, "--store", r.store)
	r.broker.waitReady(t)
	fleettest.Eventually(t, 15*time.Second, "the broker to listen", func() bool {
		c, err := net.DialTimeout("tcp", r.brokerAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *serveRig) startServe(t *testing.T) {
	t.Helper()
	r.serve = startCLI(t, "serve", "--state", r.state, "--listen", r.serveAddr, "--keys", r.keys, "--broker", r.brokerURL(), "-v")
	r.serve.waitReady(t)
	fleettest.Eventually(t, 20*time.Second, "serve to answer", func() bool {
		_, err := serve.Discover(context.Background(), r.state)
		return err == nil
	})
}

func kill(t *testing.T, p *cliProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
}

// TestServeOfflineAgentAndRestarts is the host that stays up, end to end
// with real broker and serve processes: `deploy` to an agent that is
// offline registers with serve and returns; serve and the broker are then
// SIGKILLed mid-rollout; the agent comes back while serve is still down,
// gets the deploy from the broker's persisted retained message and keeps
// retrying the unreachable artifact instead of rolling back; serve restarts,
// resumes the rollout, and the agent installs and commits.
func TestServeOfflineAgentAndRestarts(t *testing.T) {
	dir := t.TempDir()
	r := &serveRig{brokerAddr: freeLoopback(t), serveAddr: freeLoopback(t), store: filepath.Join(dir, "broker.db"),
		state: filepath.Join(dir, "state"), keys: filepath.Join(dir, "keys")}
	t.Setenv("EDGENAS_HOST_PASSWORD", fleettest.Host.Password)
	t.Setenv("EDGENAS_AGENT_PASSWORD", fleettest.AgentPassword)
	if code, _, errs := runCLI(t, "keys", "init", "--dir", r.keys); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	pub, err := signing.LoadPublic(filepath.Join(r.keys, signing.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "late.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "7", "-o", mpath); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	r.startBroker(t)
	r.startServe(t)

	// The agent announces itself once, then goes offline for the whole deploy.
	data := filepath.Join(dir, "agent")
	_, stop := runAgent(t, r.brokerURL(), pub, "late", "pi", data)
	waitAgents(t, r.brokerURL(), proto.StateOnline, "late")
	stop()
	waitAgents(t, r.brokerURL(), proto.StateOffline, "late")

	code, out, errs := runCLI(t, "deploy", "--model", mpath, "--to", "late", "--keys", r.keys, "--state", r.state,
		"--broker", r.brokerURL(), "--wait", "300ms", "--timeout", "90s", "--json")
	if code != 0 || !strings.Contains(errs, "registered with edgenas serve") {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, errs, out)
	}
	s := parseStatus(t, out)
	if s.Name != "late" || s.Version != 1 || s.Phase != "canary" {
		t.Fatalf("registered rollout %+v", s)
	}
	deployCLI := []string{"deploy", "--model", mpath, "--keys", r.keys, "--broker", r.brokerURL(), "--wait", "300ms"}
	cli := []struct {
		name    string
		args    []string
		code    int
		inOut   string
		inErr   string
		exclErr string
	}{
		{name: "help", args: []string{"serve", "--help"}, code: 0, inOut: "Example:"},
		{name: "artifact flags with serve", args: append(deployCLI, "--to", "late", "--state", r.state, "--listen", "127.0.0.1:0"),
			code: 2, inErr: "edgenas serve (pid"},
		{name: "in-process resume of serve's rollout", args: []string{"deploy", "--in-process", "--resume", s.ID, "--state", r.state},
			code: 2, inErr: "let it resume"},
		{name: "no serve: in-process", args: append(deployCLI, "--to", "nobody", "--state", filepath.Join(dir, "other")),
			code: 1, inErr: "running the rollout in this process", exclErr: "registered"},
	}
	for _, c := range cli {
		code, out, errs := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out, c.inOut) || !strings.Contains(errs, c.inErr) ||
			(c.exclErr != "" && strings.Contains(errs, c.exclErr)) {
			t.Errorf("%s: edgenas %v: exit %d\n%s\n%s", c.name, c.args, code, out, errs)
		}
	}
	fleettest.Eventually(t, 15*time.Second, "serve to send the deploy", func() bool {
		code, o, _ := runCLI(t, "deploy", "status", "--state", r.state, "--keys", r.keys, "--json")
		return code == 0 && strings.Contains(o, `"state": "sent"`)
	})

	kill(t, r.serve)
	kill(t, r.broker)
	r.startBroker(t)
	a, stop := runAgent(t, r.brokerURL(), pub, "late", "pi", data)
	journal := filepath.Join(data, "models", "late", install.JournalFile)
	fleettest.Eventually(t, 20*time.Second, "the agent to start the install from the retained deploy", func() bool {
		_, err := os.Stat(journal)
		return err == nil
	})
	// Longer than a round of download attempts: the install must still be open.
	time.Sleep(5 * time.Second)
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("install ended while the artifact was unreachable: %v", err)
	}
	if v, _ := a.Models().Committed("late"); v != 0 {
		t.Fatalf("committed v%d before serve was back", v)
	}

	r.startServe(t)
	fleettest.Eventually(t, 60*time.Second, "the rollout to finish after the restart", func() bool {
		code, o, _ := runCLI(t, "deploy", "status", "--state", r.state, "--json")
		return code == 0 && parseStatus(t, o).Phase == "done"
	})
	if v, err := a.Models().Committed("late"); v != 1 || err != nil {
		t.Errorf("agent committed v%d (%v), want 1", v, err)
	}
	code, out, errs = runCLI(t, "deploy", "status", "--state", r.state, "--keys", r.keys, "--json")
	if code != 0 || !strings.Contains(errs, "edgenas serve (pid") {
		t.Fatalf("deploy status through serve: exit %d, %s", code, errs)
	}
	if st := parseStatus(t, out); st.ID != s.ID || st.Counts.Committed != 1 || st.Devices[0].LatencyMS <= 0 {
		t.Errorf("final status %+v", st)
	}
	// --follow waits for serve's rollout to end, as an in-process deploy does.
	// The same bytes keep their version unless a new one is asked for.
	code, out, errs = runCLI(t, append(deployCLI, "--to", "late", "--state", r.state, "--timeout", "60s", "--version", "2", "--follow", "--json")...)
	if st := parseStatus(t, out); code != 0 || st.Version != 2 || st.Phase != "done" || st.Counts.Committed != 1 {
		t.Fatalf("deploy --follow: exit %d %+v\n%s", code, st, errs)
	}
	if v, err := a.Models().Committed("late"); v != 2 || err != nil {
		t.Errorf("agent committed v%d (%v) after --follow, want 2", v, err)
	}
	stop()

	// A clean stop removes serve's info file and exits 0.
	if err := r.serve.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.serve.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
	if testing.Verbose() {
		t.Logf("serve's log after the restart:\n%s", r.serve.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(r.state, serve.InfoFile)); !os.IsNotExist(err) {
		t.Errorf("serve info left after a clean stop: %v", err)
	}
}
