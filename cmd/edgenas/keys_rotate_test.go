package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/fleet/fleettest"
	"edgenas/internal/signing"
)

// TestKeysRotateAndVersions runs the CLI against a real agent: a deploy from
// a fresh --state gets a new version (not v1 again), `keys rotate` hands the
// agent the new key, a deploy signed by it commits, and `--retire` leaves
// the agent trusting the new key alone.
func TestKeysRotateAndVersions(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	keys, pub := hostKeys(t, dir)
	// No broker: nothing is rotated, so the agents' key still signs.
	if code, _, errs := runCLI(t, "keys", "rotate", "--dir", keys, "--broker", "tcp://127.0.0.1:1", "--password", "x"); code != 1 ||
		!strings.Contains(errs, "nothing rotated") {
		t.Fatalf("rotate without a broker: exit %d %s", code, errs)
	}
	if still, err := signing.LoadPublic(filepath.Join(keys, signing.PublicFile)); err != nil || !still.Equal(pub) {
		t.Fatalf("the key changed although the rotation could not be handed out: %v", err)
	}
	var models []string
	for _, seed := range []string{"3", "4"} {
		p := filepath.Join(dir, "m"+seed+".tflite")
		if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", seed, "-o", p); code != 0 {
			t.Fatalf("model gen: %s", errs)
		}
		models = append(models, p)
	}
	agents := startAgents(t, b.URL(), pub, map[string]string{"pi-1": "pi"})
	host := []string{"--broker", b.URL(), "--password", fleettest.Host.Password}
	deploy := func(model, state string, wantVersion uint64, devices int) {
		t.Helper()
		code, out, errs := runCLI(t, append([]string{"deploy", "--model", model, "--name", "m", "--to", "all", "--keys", keys,
			"--state", filepath.Join(dir, state), "--wait", "500ms", "--timeout", "30s", "--json"}, host...)...)
		if code != 0 {
			t.Fatalf("deploy: exit %d\n%s\n%s", code, errs, out)
		}
		if s := parseStatus(t, out); s.Version != wantVersion || s.Counts.Committed != devices {
			t.Fatalf("deploy of %s from state %s: %+v, want v%d committed", filepath.Base(model), state, s, wantVersion)
		}
	}
	deploy(models[0], "s1", 1, 1)
	deploy(models[1], "fresh", 2, 1)  // a fresh --state: the key directory's record gives v2
	deploy(models[1], "fresh2", 2, 1) // the same bytes again: the same version, re-confirmed

	rotate := func(args ...string) (uint64, []string) {
		t.Helper()
		serial, ids, _ := rotateAll(t, keys, host, 1, args...)
		return serial, ids
	}
	if serial, ids := rotate(); serial != 1 || len(ids) != 2 || ids[0] != signing.KeyID(pub) {
		t.Fatalf("rotate: serial %d keys %v", serial, ids)
	}
	// A device provisioned after the rotation, with the new key only,
	// cannot verify the chain's first link but has what it hands out.
	newPub, err := signing.LoadPublic(filepath.Join(keys, signing.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	startAgents(t, b.URL(), newPub, map[string]string{"pi-2": "pi"})
	if _, _, agentKeys := rotateAll(t, keys, host, 2, "--republish"); agentKeys["pi-2"] != signing.KeyID(newPub) {
		t.Fatalf("pi-2 trusts %q, want %s", agentKeys["pi-2"], signing.KeyID(newPub))
	}
	deploy(models[0], "s1", 3, 2) // signed by the new key; older bytes than v2 get a new version
	serial, ids, agentKeys := rotateAll(t, keys, host, 2, "--retire")
	if serial != 2 || len(ids) != 1 || ids[0] != signing.KeyID(newPub) || agentKeys["pi-1"] != ids[0] || agentKeys["pi-2"] != ids[0] {
		t.Fatalf("retire: serial %d keys %v, agents %v", serial, ids, agentKeys)
	}
	if code, _, errs := runCLI(t, append([]string{"keys", "rotate", "--dir", keys, "--retire", "--republish"}, host...)...); code != 2 ||
		!strings.Contains(errs, "exclude") {
		t.Errorf("--retire --republish: exit %d %s", code, errs)
	}
	if v, err := agents["pi-1"].Models().Committed("m"); err != nil || v != 3 {
		t.Errorf("agent committed %d (%v), want 3", v, err)
	}
}

// rotateAll runs `keys rotate --to all` with args, checks that all n agents
// applied it, and returns the set and each agent's key ids.
func rotateAll(t *testing.T, keys string, host []string, n int, args ...string) (uint64, []string, map[string]string) {
	t.Helper()
	code, out, errs := runCLI(t, append(append([]string{"keys", "rotate", "--dir", keys, "--to", "all", "--wait", "15s", "--json"}, args...), host...)...)
	if code != 0 {
		t.Fatalf("keys rotate %v: exit %d\n%s\n%s", args, code, errs, out)
	}
	var res struct {
		Serial uint64
		Keys   []string
		Agents []struct {
			Agent   string
			Applied bool
			Keys    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Agents) != n {
		t.Fatalf("keys rotate %v: %v\n%s", args, err, out)
	}
	agentKeys := map[string]string{}
	for _, a := range res.Agents {
		if !a.Applied {
			t.Fatalf("keys rotate %v: %s did not apply it\n%s", args, a.Agent, out)
		}
		agentKeys[a.Agent] = strings.Join(a.Keys, " ")
	}
	return res.Serial, res.Keys, agentKeys
}
