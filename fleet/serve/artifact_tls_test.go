package serve_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/serve"
	"edgenas/internal/pki"
)

// TestArtifactListenerTLS: with ArtifactTLS serve's artifact address speaks
// https with the fleet-issued certificate, advertises https, and an agent
// holding the fleet CA reaches it while the API stays plain http.
func TestArtifactListenerTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"), "fleet CA", false)
	if err != nil {
		t.Fatal(err)
	}
	stc := fleettest.ServerCert(t, ca, "artifacts", "127.0.0.1")
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	hk := fleettest.NewKey(t)
	ctx, cancel := context.WithCancel(context.Background())
	infos := make(chan serve.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, serve.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", ArtifactListen: "127.0.0.1:0", ArtifactTLS: stc,
			Trust: hk.Public, Broker: proto.ConnConfig{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password}},
			func(i serve.Info) { infos <- i })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var info serve.Info
	select {
	case info = <-infos:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve not up after 20 s")
	}
	if !strings.HasPrefix(info.Artifacts, "https://127.0.0.1:") || !strings.HasPrefix(info.API, "http://") {
		t.Fatalf("artifacts at %s, API at %s: want https artifacts and a plain API", info.Artifacts, info.API)
	}
	atc, err := pki.ClientTLS(filepath.Join(ca.Dir, pki.CACertFile), "", "")
	if err != nil {
		t.Fatal(err)
	}
	// An unknown artifact is 404: the TLS handshake and the handler both ran.
	resp, err := install.ArtifactClient(atc, false).Get(info.Artifacts + "/artifacts/" + strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET unknown artifact: %s, want 404", resp.Status)
	}
}
