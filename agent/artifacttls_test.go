package agent_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/pki"
)

// TestArtifactsOverHTTPSEndToEnd: an agent on a mutual-TLS broker installs a
// model from an artifact server with a certificate from the fleet CA it
// verifies the broker with; a deploy pointing at a self-signed server, or at
// plain http, is refused at once with the reason, while the agent stays
// ready for the next deploy.
func TestArtifactsOverHTTPSEndToEnd(t *testing.T) {
	b := fleettest.StartTLS(t, fleettest.Embedded, fleettest.TLSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := rollout.Dial(ctx, proto.ConnConfig{Broker: b.URL(), TLS: b.Issue(t, "host", pki.RoleHost)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := fleettest.NewKey(t)
	fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: "dev1", Class: "tls", DataDir: t.TempDir(), Backend: "ref", Version: "test",
		TLS: b.Issue(t, "dev1", pki.RoleAgent), Trust: key.Public, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	st, err := rollout.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serve := func(tc *tls.Config) string {
		t.Helper()
		srv, err := st.Serve("127.0.0.1:0", "", tc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close(context.Background()) })
		return srv.Base()
	}
	fleetTLS := fleettest.ServerCert(t, b.CA, "artifacts", "127.0.0.1")
	selfSigned := httptest.NewTLSServer(rollout.ArtifactHandler(st.ArtifactDir()))
	defer selfSigned.Close()

	src := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(src, fleettest.LayerModel(t, "fc-input:16-output:10"), 0o644); err != nil {
		t.Fatal(err)
	}
	art, err := st.AddArtifact(src)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		base    string
		version uint64
		want    string
		reason  string
	}{
		{name: "https with a fleet certificate", base: serve(fleetTLS), version: 1, want: proto.InstallCommitted},
		{name: "self-signed server", base: selfSigned.URL, version: 2, want: proto.InstallRefused, reason: "artifact server not trusted"},
		{name: "plain http", base: serve(nil), version: 3, want: proto.InstallRefused, reason: "is not https"},
		{name: "https again after the refusals", base: serve(fleetTLS), version: 4, want: proto.InstallCommitted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := modelOptions(c.version)
			o.URL = c.base + "/artifacts/" + art.SHA256
			id := fmt.Sprint("r", c.version)
			if err := conn.Deploy(ctx, "dev1", key.ModelDeploy(t, id, art, o, nil)); err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case r := <-conn.Reports():
					if r.Rollout != id || !proto.IsFinalInstall(r.State) {
						continue
					}
					if r.State != c.want || !strings.Contains(r.Reason, c.reason) {
						t.Fatalf("install %s (%s), want %s with a reason containing %q", r.State, r.Reason, c.want, c.reason)
					}
					return
				case <-ctx.Done():
					t.Fatalf("no final report for %s", id)
				}
			}
		})
	}
}
