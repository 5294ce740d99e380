package slots_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/firmware/bundle"
	"edgenas/firmware/slots"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
)

// TestBundleAfterKeyRotation runs the agent-bundle installer under the
// install manager with a keyring rotated from the provisioned key to a new
// one, as an agent has after `keys rotate`, while the installer itself was
// built with the provisioned key alone (as `edgenas agent` builds it). A
// bundle signed by the new key must be checked against the live keyring and
// staged; one signed by a key the keyring never trusted is refused.
func TestBundleAfterKeyRotation(t *testing.T) {
	old, rotated, outsider := fleettest.NewKey(t), fleettest.NewKey(t), fleettest.NewKey(t)
	cases := []struct {
		name   string
		signer fleettest.Key
		want   string // the state the install reaches
		reason string
	}{
		{name: "signed by the rotated key", signer: rotated, want: proto.InstallChecking},
		{name: "signed by an untrusted key", signer: outsider, want: proto.InstallRefused, reason: "signed by another key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			st, err := slots.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			first := filepath.Join(t.TempDir(), "v1.bundle")
			if err := os.WriteFile(first, signedBundle(t, old.Private, 1), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := st.InstallFirst(first, old.Public, ""); err != nil {
				t.Fatal(err)
			}
			keys, err := signing.OpenKeyring("", old.Public)
			if err != nil {
				t.Fatal(err)
			}
			chain, err := signing.SignRotation(old.Private, signing.TrustSet{Serial: 1, Keys: []ed25519.PublicKey{rotated.Public}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := keys.Rotate([][]byte{chain}); err != nil {
				t.Fatal(err)
			}

			reports := make(chan *proto.Install, 64)
			m, err := install.NewManager(install.Config{Dir: filepath.Join(data, "agent-data"), Agent: agentID, AgentVersion: "v1", Keys: keys,
				Report: func(r *proto.Install) { reports <- r }})
			if err != nil {
				t.Fatal(err)
			}
			in := &slots.Installer{Store: st, Slot: slots.SlotA, Trust: signing.Only(old.Public), Target: target, Poll: 20 * time.Millisecond}
			if err := m.Register(proto.ManifestAgent, in); err != nil {
				t.Fatal(err)
			}
			arts := fleettest.ServeArtifacts(t)
			art := arts.Add(t, signedBundle(t, c.signer.Private, 2))
			// The manifest is signed by the rotated key in both cases: it
			// passes, and only the bundle's own signature decides.
			d := rotated.AgentDeploy(t, "r2", art, rollout.ManifestOptions{Name: "agent", Version: 2, URL: arts.URL(art.SHA256)}, target)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); m.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()
			m.Submit(d)
			for {
				select {
				case r := <-reports:
					if r.State != c.want && (r.State == proto.InstallRefused || r.State == proto.InstallRolledBack || r.State == proto.InstallChecking) {
						t.Fatalf("install reached %s (%s), want %s", r.State, r.Reason, c.want)
					}
					if r.State != c.want {
						continue
					}
					if !strings.Contains(r.Reason, c.reason) {
						t.Fatalf("%s with reason %q, want %q", r.State, r.Reason, c.reason)
					}
					return
				case <-ctx.Done():
					t.Fatalf("no %s report", c.want)
				}
			}
		})
	}
}

// signedBundle is an agent bundle of version signed by key, holding a
// stand-in binary (this test never starts it).
func signedBundle(t *testing.T, key ed25519.PrivateKey, version uint64) []byte {
	t.Helper()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "edgenas"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := bundle.Create(&buf, key, bundle.Manifest{Version: version, AgentVersion: fmt.Sprint("v", version), Target: target,
		Backend: "ref", MinHostProtocol: 1, Binary: "bin/edgenas", Files: []bundle.File{{Path: "bin/edgenas", Exec: true}}, Created: time.Now().UTC()}, src)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
