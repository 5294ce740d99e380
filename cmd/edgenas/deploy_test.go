package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/internal/signing"
)

// deployStatus is the part of `deploy --json` / `deploy status --json` the
// tests read.
type deployStatus struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Phase   string `json:"phase"`
	Reason  string `json:"reason"`
	Devices []struct {
		Agent     string  `json:"agent"`
		Canary    bool    `json:"canary"`
		State     string  `json:"state"`
		Reason    string  `json:"reason"`
		Version   uint64  `json:"version"`
		LatencyMS float64 `json:"latency_ms"`
	} `json:"devices"`
	Counts struct {
		Total, Committed, Failed, Skipped int
	} `json:"counts"`
}

func parseStatus(t *testing.T, out string) deployStatus {
	t.Helper()
	var s deployStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("deploy JSON: %v\n%s", err, out)
	}
	return s
}

func TestKeysCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if code, _, errs := runCLI(t, "keys", "show", "--dir", dir); code != 1 || !strings.Contains(errs, "keys init") {
		t.Errorf("keys show without a key: exit %d, %q", code, errs)
	}
	code, out, errs := runCLI(t, "keys", "init", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("keys init: %d %s", code, errs)
	}
	var k struct {
		KeyID  string `json:"key_id"`
		Public string `json:"public_key_file"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	pub, err := signing.LoadPublic(filepath.Join(dir, signing.PublicFile))
	if err != nil || k.KeyID != signing.KeyID(pub) || k.Public != filepath.Join(dir, signing.PublicFile) {
		t.Errorf("keys init JSON %+v, key file %v", k, err)
	}
	if code, _, errs := runCLI(t, "keys", "init", "--keys", dir); code != 1 || !strings.Contains(errs, "--force") {
		t.Errorf("second keys init: exit %d, %q", code, errs)
	}
	if code, out, _ := runCLI(t, "keys", "show", "--dir", dir); code != 0 || !strings.Contains(out, k.KeyID) {
		t.Errorf("keys show: exit %d, %q", code, out)
	}
	if code, _, errs := runCLI(t, "keys", "init", "--dir", dir, "--force"); code != 0 {
		t.Errorf("keys init --force: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, "keys", "show", "--dir", dir); code != 0 || strings.Contains(out, k.KeyID) {
		t.Errorf("after --force the key id should change: %q", out)
	}
}

func TestDeployUsageErrors(t *testing.T) {
	state := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deploy", "--to", "all"}, 2, "needs --model (or --agent-bundle) and --to"},
		{[]string{"deploy", "--model", "m.tflite", "--agent-bundle", "a.bundle", "--to", "all"}, 2, "not both"},
		{[]string{"deploy", "--agent-bundle", "/nonexistent.bundle", "--to", "all", "--state", state, "--keys", state}, 1, "/nonexistent.bundle"},
		{[]string{"deploy", "--model", "m.tflite", "--to", "all", "--canary", "0"}, 2, "--canary"},
		{[]string{"deploy", "--model", "m.tflite", "--to", "all", "--max-failure-pct", "120"}, 2, "--max-failure-pct"},
		{[]string{"deploy", "--model", "m.tflite", "--to", "all", "--timeout", "0s"}, 2, "--timeout"},
		{[]string{"deploy", "status", "--model", "m.tflite"}, 2, "--model is a flag of deploy"},
		{[]string{"deploy", "statuz"}, 2, "deploy status"},
		{[]string{"deploy", "status", "--state", filepath.Join(state, "none")}, 1, "state directory"},
		{[]string{"deploy", "status", "--state", state}, 1, "no rollouts"},
		{[]string{"deploy", "--model", "/nonexistent.tflite", "--to", "all", "--state", state}, 1, "/nonexistent.tflite"},
		{[]string{"deploy", "--model", "m.tflite", "--to", "all", "--state", state, "--artifact-tls-cert", "a.crt"}, 2, "go together"},
		{[]string{"deploy", "--model", "m.tflite", "--to", "all", "--state", state, "--artifact-tls-cert", "/nonexistent.crt",
			"--artifact-tls-key", "/nonexistent.key"}, 2, "/nonexistent.crt"},
		{[]string{"serve", "--state", state, "--keys", state, "--artifact-tls-cert", "a.crt"}, 2, "go together"},
	}
	for _, tc := range tests {
		code, _, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("edgenas %v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

// runAgent runs a real agent in-process against the broker, trusting pub,
// until the returned stop is called (or the test ends).
func runAgent(t *testing.T, broker string, pub []byte, id, class, dataDir string) (*agent.Agent, func()) {
	t.Helper()
	return runTaggedAgent(t, broker, pub, id, class, dataDir, nil)
}

// runTaggedAgent is runAgent for an agent started with --tag (tags).
func runTaggedAgent(t *testing.T, broker string, pub []byte, id, class, dataDir string, tags map[string]string) (*agent.Agent, func()) {
	t.Helper()
	return fleettest.RunAgent(t, agent.Config{Broker: broker, ID: id, Class: class, Tags: tags, Password: fleettest.AgentPassword,
		DataDir: dataDir, Backend: "ref", Version: "test", Trust: pub,
		Heartbeat: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// waitAgents waits until `fleet list` shows every id in the wanted state.
func waitAgents(t *testing.T, broker, state string, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, out, _ := runCLI(t, "fleet", "list", "--broker", broker, "--password", fleettest.Host.Password, "--wait", "300ms", "--json")
		var rows []struct{ ID, State string }
		n := 0
		if code == 0 && json.Unmarshal([]byte(out), &rows) == nil {
			for _, r := range rows {
				if slices.Contains(ids, r.ID) && r.State == state {
					n++
				}
			}
		}
		if n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d agents %s: %s", n, len(ids), state, out)
		}
	}
}

// startAgents runs real agents in-process, waiting until all are online.
func startAgents(t *testing.T, broker string, pub []byte, ids map[string]string) map[string]*agent.Agent {
	t.Helper()
	agents := map[string]*agent.Agent{}
	var list []string
	for id, class := range ids {
		agents[id], _ = runAgent(t, broker, pub, id, class, filepath.Join(t.TempDir(), id))
		list = append(list, id)
	}
	waitAgents(t, broker, proto.StateOnline, list...)
	return agents
}

// deployFixture makes a host key in keys and a random spnas-fmnist model in
// dir, returning the public key agents trust and the model's path.
func deployFixture(t *testing.T, dir, keys string) (pub []byte, mpath string) {
	t.Helper()
	if code, _, errs := runCLI(t, "keys", "init", "--dir", keys); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	pub, err := signing.LoadPublic(filepath.Join(keys, signing.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	mpath = filepath.Join(dir, "fmnist.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", mpath); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	return pub, mpath
}

// TestDeployEndToEnd: keys, an embedded broker, three real agents trusting
// the host key; `deploy --to all` commits on every agent and `deploy status`
// agrees; a deploy signed with another key is refused and the CLI fails.
func TestDeployEndToEnd(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	keys, otherKeys, state := filepath.Join(dir, "keys"), filepath.Join(dir, "other"), filepath.Join(dir, "state")
	pub, mpath := deployFixture(t, dir, keys)
	if code, _, errs := runCLI(t, "keys", "init", "--dir", otherKeys); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	ids := map[string]string{"pi-1": "pi", "pi-2": "pi", "x86-1": "x86"}
	agents := startAgents(t, b.URL(), pub, ids)

	hostArgs := []string{"--broker", b.URL(), "--password", fleettest.Host.Password, "--state", state, "--wait", "500ms"}
	start := time.Now()
	code, out, errs := runCLI(t, append([]string{"deploy", "--model", mpath, "--to", "all", "--keys", keys, "--canary", "1",
		"--timeout", "30s", "--json"}, hostArgs...)...)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, errs, out)
	}
	t.Logf("deploy to 3 agents: %s\n%s", time.Since(start).Round(time.Millisecond), errs)
	s := parseStatus(t, out)
	if s.Name != "fmnist" || s.Version != 1 || s.Phase != "done" || s.Counts.Committed != 3 || len(s.Devices) != 3 {
		t.Fatalf("deploy result %+v", s)
	}
	for _, d := range s.Devices {
		if d.State != proto.InstallCommitted || d.LatencyMS <= 0 || d.Version != 1 {
			t.Errorf("%s: %+v, want committed v1 with a latency", d.Agent, d)
		}
		t.Logf("%s canary=%v latency %.3f ms", d.Agent, d.Canary, d.LatencyMS)
		if v, err := agents[d.Agent].Models().Committed("fmnist"); err != nil || v != 1 {
			t.Errorf("%s: store says committed %d (%v), want 1", d.Agent, v, err)
		}
	}
	if !strings.Contains(errs, "deploy "+s.ID) {
		t.Errorf("no progress on stderr: %q", errs)
	}

	// deploy status (a separate invocation, from the state dir) agrees.
	code, out, errs = runCLI(t, "deploy", "status", "--state", state, "--json")
	if code != 0 {
		t.Fatalf("deploy status: %d %s", code, errs)
	}
	st := parseStatus(t, out)
	if st.ID != s.ID || st.Phase != s.Phase || st.Counts != s.Counts || fmt.Sprint(st.Devices) != fmt.Sprint(s.Devices) {
		t.Errorf("deploy status %+v\ndiffers from deploy's result %+v", st, s)
	}
	if code, out, _ := runCLI(t, "deploy", "status", "--state", state, "--rollout", s.ID); code != 0 ||
		!strings.Contains(out, "3 committed") || !strings.Contains(out, "pi-2") {
		t.Errorf("deploy status table: exit %d\n%s", code, out)
	}

	// Signed with another key: the canary refuses it, the rollout aborts and
	// the other agents never get it.
	code, out, errs = runCLI(t, append([]string{"deploy", "--model", mpath, "--to", "class:pi", "--keys", otherKeys,
		"--canary", "1", "--timeout", "30s", "--json"}, hostArgs...)...)
	if code == 0 {
		t.Fatalf("deploy signed by another key succeeded:\n%s", out)
	}
	if !strings.Contains(errs, "aborted") {
		t.Errorf("stderr does not say the rollout aborted: %q", errs)
	}
	if !strings.Contains(errs, "will refuse this deploy") {
		t.Errorf("stderr does not warn that the targets do not trust the signing key: %q", errs)
	}
	bad := parseStatus(t, out)
	if bad.Version != 2 || bad.Phase != "aborted" || len(bad.Devices) != 2 {
		t.Fatalf("bad-key rollout %+v", bad)
	}
	for _, d := range bad.Devices {
		switch {
		case d.Canary && (d.State != proto.InstallRefused || !strings.Contains(d.Reason, "another key")):
			t.Errorf("canary %s: %s (%s), want refused: signed by another key", d.Agent, d.State, d.Reason)
		case !d.Canary && d.State != "skipped":
			t.Errorf("%s: %s, want skipped", d.Agent, d.State)
		}
		if v, _ := agents[d.Agent].Models().Committed("fmnist"); v != 1 {
			t.Errorf("%s: committed version %d after the refused deploy, want 1", d.Agent, v)
		}
	}
	// The latest rollout is now the aborted one.
	if code, out, _ := runCLI(t, "deploy", "status", "--state", state, "--json"); code != 0 || parseStatus(t, out).ID != bad.ID {
		t.Errorf("deploy status after the bad deploy: exit %d %s", code, out)
	}
}

// TestDeployResume: a deploy to an offline agent is interrupted (the host
// stops); the agent comes back, and `deploy --resume` serves the artifact on
// the same URL again, re-publishes, and finishes with the agent committed.
func TestDeployResume(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	keys, pub := hostKeys(t, dir)
	state := filepath.Join(dir, "state")
	mpath := filepath.Join(dir, "small.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "5", "-o", mpath); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	data := filepath.Join(dir, "ghost")
	_, stop := runAgent(t, b.URL(), pub, "ghost", "pi", data)
	waitAgents(t, b.URL(), proto.StateOnline, "ghost")
	stop()
	waitAgents(t, b.URL(), proto.StateOffline, "ghost")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, &env{stdout: &out, stderr: &errb}, []string{"deploy", "--model", mpath, "--to", "ghost",
			"--keys", keys, "--state", state, "--broker", b.URL(), "--password", fleettest.Host.Password, "--wait", "300ms",
			"--timeout", "30s", "--json"})
	}()
	// Interrupt once the deploy is out.
	fleettest.Eventually(t, 15*time.Second, "the deploy to be sent", func() bool {
		code, o, _ := runCLI(t, "deploy", "status", "--state", state, "--json")
		return code == 0 && strings.Contains(o, `"state": "sent"`)
	})
	cancel()
	if code := <-done; code == 0 || !strings.Contains(errb.String(), "--resume") {
		t.Fatalf("interrupted deploy: exit %d, stderr %q", code, errb.String())
	}
	s := parseStatus(t, out.String())
	if s.Phase != "interrupted" || s.Devices[0].State != "sent" {
		t.Fatalf("interrupted rollout %+v", s)
	}

	a, _ := runAgent(t, b.URL(), pub, "ghost", "pi", data)
	code, o, errs := runCLI(t, "deploy", "--resume", s.ID, "--state", state, "--broker", b.URL(), "--password",
		fleettest.Host.Password, "--json")
	if code != 0 {
		t.Fatalf("deploy --resume: exit %d\n%s\n%s", code, errs, o)
	}
	r := parseStatus(t, o)
	if r.ID != s.ID || r.Phase != "done" || r.Devices[0].State != proto.InstallCommitted {
		t.Fatalf("resumed rollout %+v", r)
	}
	if v, err := a.Models().Committed("small"); v != 1 || err != nil {
		t.Errorf("agent committed %d (%v), want 1", v, err)
	}
	if code, _, errs := runCLI(t, "deploy", "--resume", s.ID, "--state", state, "--broker", b.URL()); code != 1 ||
		!strings.Contains(errs, "already ended") {
		t.Errorf("resuming a finished rollout: exit %d, %q", code, errs)
	}
}
