package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
)

// TestKeyRotationEndToEnd rotates the host key of a real agent process with
// the host's own code (signing.RotateHostKey, rollout.Conn.HandKeys): after
// the rotation a deploy signed by the new key installs; after retiring the
// old key one signed by it is refused; a rotation signed by an untrusted key
// is refused and changes nothing; and the rotated set survives a restart of
// the agent, which is still started with the old --trust key. It runs on
// both brokers, so mosquitto's ACL for the keys topic is checked too.
func TestKeyRotationEndToEnd(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) { testKeyRotation(t, kind) })
	}
}

func testKeyRotation(t *testing.T, kind string) {
	r := fleettest.NewRig(t, kind, fleettest.Options{Agents: []string{"dev1"}})
	keyDir := filepath.Dir(r.Key.PublicFile)
	dir := t.TempDir()
	a := startAgent(t, r, dir, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := rollout.Dial(ctx, proto.ConnConfig{Broker: r.Broker.URL(), ClientID: "test-keys", Username: fleettest.Host.Name,
		Password: fleettest.Host.Password}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dev1 := []rollout.Agent{{ID: "dev1"}}
	hand := func(ht signing.HostTrust) rollout.KeyStatus {
		t.Helper()
		want := rollout.KeyTarget{Serial: ht.Set.Serial, Keys: ht.Set.IDs(), Signer: signing.KeyID(ht.Signer)}
		sts, err := conn.HandKeys(ctx, dev1, ht.Chain, want, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return sts[0]
	}
	body := fleettest.LayerModel(t, "fc-input:16-output:10")
	art := r.Artifacts.Add(t, body)
	deploy := func(key ed25519.PrivateKey, id string, version uint64) {
		t.Helper()
		o := modelOptions(version)
		o.URL = r.Artifacts.URL(art.SHA256)
		r.Host.Deploy(t, "dev1", fleettest.Key{Private: key}.ModelDeploy(t, id, art, o, nil))
	}
	oldKey := r.Key.Private
	// The agent process reads --trust when it starts: let it, before the
	// rotation rewrites that file.
	fleettest.Eventually(t, 20*time.Second, "the agent to announce the provisioned key", func() bool {
		tr := agentTrust(ctx, t, conn)
		return len(tr.Keys) == 1 && tr.Keys[0] == signing.KeyID(r.Key.Public)
	})

	ht, err := signing.RotateHostKey(keyDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := signing.LoadPrivate(filepath.Join(keyDir, signing.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := hand(ht); !st.Applied || len(st.Keys) != 2 {
		t.Fatalf("after rotate: %+v", st)
	}
	deploy(newKey, "r1", 1)
	r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)
	deploy(oldKey, "r2", 2) // both keys are trusted until the old one is retired
	r.Host.WaitState(t, "r2", proto.InstallCommitted, 20*time.Second)

	if ht, err = signing.RetireHostKeys(keyDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := hand(ht); !st.Applied || st.Serial != 2 || len(st.Keys) != 1 || st.Keys[0] != signing.KeyID(newKey.Public().(ed25519.PublicKey)) {
		t.Fatalf("after retire: %+v", st)
	}
	deploy(oldKey, "r3", 3)
	if got := r.Host.WaitState(t, "r3", proto.InstallRefused, 20*time.Second); !strings.Contains(got.Reason, "signed by another key") {
		t.Fatalf("deploy signed by the retired key: %q", got.Reason)
	}

	// An attacker's rotation to its own key, with a serial far ahead.
	evilPub, evilKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := signing.SignRotation(evilKey, signing.TrustSet{Serial: 9, Keys: []ed25519.PublicKey{evilPub}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.HandKeys(ctx, dev1, [][]byte{evil}, rollout.KeyTarget{Serial: 9}, 0); err != nil {
		t.Fatal(err)
	}
	fleettest.Eventually(t, 20*time.Second, "the agent to announce the refused rotation", func() bool {
		return agentTrust(ctx, t, conn).Refused != ""
	})
	if tr := agentTrust(ctx, t, conn); tr.Serial != 2 || !strings.Contains(tr.Refused, "signed by another key") {
		t.Fatalf("after the untrusted rotation: %+v", tr)
	}
	deploy(evilKey, "r4", 4)
	r.Host.WaitState(t, "r4", proto.InstallRefused, 20*time.Second)

	// The rotated set is on disk: a restart with the old --trust keeps it.
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	a = startAgent(t, r, dir, "", "")
	deploy(newKey, "r5", 5)
	r.Host.WaitState(t, "r5", proto.InstallCommitted, 20*time.Second)
	deploy(oldKey, "r6", 6)
	r.Host.WaitState(t, "r6", proto.InstallRefused, 20*time.Second)
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
}

// agentTrust is dev1's trusted set as its latest info announces it.
func agentTrust(ctx context.Context, t *testing.T, conn *rollout.Conn) proto.TrustInfo {
	t.Helper()
	as, err := conn.Agents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.ID == "dev1" && a.Trust != nil {
			return *a.Trust
		}
	}
	return proto.TrustInfo{}
}

// TestCorruptTrustFileRefusesToStart: a damaged trust file stops the agent
// with a way out instead of silently trusting the provisioned key again.
func TestCorruptTrustFileRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, agent.TrustFile), []byte(`{"serial":2,"keys":["AAAA"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = agent.New(agent.Config{Broker: "tcp://127.0.0.1:1883", ID: "dev1", DataDir: dir, Trust: pub})
	if err == nil || !strings.Contains(err.Error(), "remove it to trust only --trust") {
		t.Fatalf("agent.New with a corrupt trust file: %v", err)
	}
}
