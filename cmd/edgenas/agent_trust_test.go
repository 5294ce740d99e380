package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

// TestAgentTrustFlag: a bad --trust file is a usage error naming the flag;
// with a key, `edgenas agent` installs a deploy signed by it and refuses
// one signed by another key.
func TestAgentTrustFlag(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pub")
	os.WriteFile(bad, []byte("not a key"), 0o644)
	code, _, stderr := runCLI(t, "agent", "--broker", "tcp://127.0.0.1:1", "--id", "a1", "--data-dir", t.TempDir(), "--trust", bad)
	if code != 2 || !strings.Contains(stderr, "--trust") || !strings.Contains(stderr, "malformed") {
		t.Fatalf("bad --trust: exit %d, stderr %q", code, stderr)
	}

	r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"a1"}})
	other := fleettest.NewKey(t)
	dir := t.TempDir()
	mpath := filepath.Join(dir, "m.tflite")
	if code, _, stderr := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", mpath); code != 0 {
		t.Fatalf("model gen: exit %d: %s", code, stderr)
	}
	body, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	art := r.Artifacts.Add(t, body)

	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int, 1)
	t.Setenv("EDGENAS_AGENT_PASSWORD", fleettest.AgentPassword)
	go func() {
		done <- execute(ctx, &env{stdout: &bytes.Buffer{}, stderr: &errb}, []string{"agent", "--broker", r.Broker.URL(), "--id", "a1",
			"--backend", "ref", "--data-dir", filepath.Join(dir, "agent"), "--trust", r.Key.PublicFile})
	}()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("agent stderr:\n%s", errb.String())
		}
	}()

	// A deploy signed by another key is refused before its health check
	// matters; one signed by the trusted key but expecting another top-1
	// class is rolled back, which proves the key was accepted.
	o := rollout.ManifestOptions{Name: "m", Version: 1, URL: r.Artifacts.URL(art.SHA256)}
	wrongTop1 := func(m *proto.Manifest) { m.Expected = fleettest.WrongTop1(m.Expected) }
	for _, c := range []struct {
		name, rollout string
		key           fleettest.Key
		state, want   string
	}{
		{name: "other key", rollout: "r1", key: other, state: proto.InstallRefused, want: "signed by another key"},
		{name: "trusted key", rollout: "r2", key: r.Key, state: proto.InstallRolledBack, want: "health check"},
	} {
		r.Host.Deploy(t, "a1", c.key.ModelDeploy(t, c.rollout, art, o, wrongTop1))
		got := r.Host.WaitState(t, c.rollout, c.state, 20*time.Second)
		if !strings.Contains(got.Reason, c.want) {
			t.Fatalf("%s: %s with reason %q, want one mentioning %q", c.name, got.State, got.Reason, c.want)
		}
	}
}
