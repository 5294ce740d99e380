package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/fleet/fleettest"
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

	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: []string{"a1"}})
	keys, other := t.TempDir(), t.TempDir()
	if _, err := signing.GenerateKey(keys, false); err != nil {
		t.Fatal(err)
	}
	signing.GenerateKey(other, false)
	key, _ := signing.LoadPrivate(filepath.Join(keys, signing.PrivateFile))
	otherKey, _ := signing.LoadPrivate(filepath.Join(other, signing.PrivateFile))

	dir := t.TempDir()
	mpath := filepath.Join(dir, "m.tflite")
	if code, _, stderr := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", mpath); code != 0 {
		t.Fatalf("model gen: exit %d: %s", code, stderr)
	}
	body, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(body)
	sha := hex.EncodeToString(h[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "m.tflite", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int, 1)
	t.Setenv("EDGENAS_AGENT_PASSWORD", fleettest.AgentPassword)
	go func() {
		done <- execute(ctx, &env{stdout: &bytes.Buffer{}, stderr: &errb}, []string{"agent", "--broker", b.URL(), "--id", "a1",
			"--backend", "ref", "--data-dir", filepath.Join(dir, "agent"), "--trust", filepath.Join(keys, signing.PublicFile)})
	}()
	defer func() {
		cancel()
		<-done
	}()

	reports := make(chan proto.Install, 64)
	host, err := proto.Connect(context.Background(), proto.ConnConfig{Broker: b.URL(), ClientID: "h",
		Username: fleettest.Host.Name, Password: fleettest.Host.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Disconnect(100)
	if err := proto.Subscribe(host, func(_ paho.Client, m paho.Message) {
		if v, err := proto.Decode(m.Topic(), m.Payload()); err == nil {
			reports <- *v.(*proto.Install)
		}
	}, proto.Filter(proto.KindInstall)); err != nil {
		t.Fatal(err)
	}
	// The health check needs the expected output; a wrong-key deploy is
	// refused before that matters, and a right-key one with a wrong
	// expectation is rolled back, which proves the key was accepted.
	man := proto.Manifest{Kind: proto.ManifestModel, Name: "m", Version: 1, Size: int64(len(body)), SHA256: sha,
		URL: srv.URL + "/artifacts/" + sha, Expected: []byte{1}, Created: time.Now()}
	for _, c := range []struct {
		key   []byte
		state string
		want  string
	}{{otherKey, proto.InstallRefused, "signed by another key"}, {key, proto.InstallRolledBack, "health check"}} {
		env, _ := signing.SignJSON(c.key, man)
		if err := proto.Publish(ctx, host, proto.Topic("a1", proto.KindDeploy), true, &proto.Deploy{Rollout: "r1", Manifest: env}); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(20 * time.Second)
	wait:
		for {
			select {
			case r := <-reports:
				if proto.IsFinalInstall(r.State) {
					if r.State != c.state || !strings.Contains(r.Reason, c.want) {
						t.Fatalf("got %s %q, want %s mentioning %q", r.State, r.Reason, c.state, c.want)
					}
					break wait
				}
			case <-timeout:
				t.Fatalf("no final install report; agent stderr: %s", errb.String())
			}
		}
	}
}
