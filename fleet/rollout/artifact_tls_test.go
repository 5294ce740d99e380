package rollout_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/install"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/pki"
)

// TestArtifactsOverTLS serves the store over https with certificates from
// the fleet CA and from elsewhere, and downloads with the agent's artifact
// client holding the fleet CA (as `edgenas agent --tls-ca` does): only a
// server certificate from that CA for the URL's host is accepted, and a
// refusal is final (ErrUntrusted, never waited on as unreachable). Plain
// http is refused unless the agent allows it.
func TestArtifactsOverTLS(t *testing.T) {
	dir := t.TempDir()
	fleet, err := pki.InitCA(filepath.Join(dir, "fleet"), "fleet CA", false)
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := pki.InitCA(filepath.Join(dir, "impostor"), "impostor CA", false)
	if err != nil {
		t.Fatal(err)
	}
	// An agent's certificate presented by a server: from the fleet CA, but
	// not for serving.
	agentCert, err := fleet.Issue(pki.Request{Name: "dev1", Role: pki.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := fleet.WriteBundle(filepath.Join(dir, "dev1"), agentCert)
	if err != nil {
		t.Fatal(err)
	}
	agentAsServer, err := pki.ServerTLS(cert, key, "", false)
	if err != nil {
		t.Fatal(err)
	}
	agentTLS, err := pki.ClientTLS(filepath.Join(fleet.Dir, pki.CACertFile), "", "")
	if err != nil {
		t.Fatal(err)
	}

	st, err := rollout.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("artifact over tls "), 5000)
	src := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := st.AddArtifact(src)
	if err != nil {
		t.Fatal(err)
	}
	// httptest's own certificate is self-signed for 127.0.0.1.
	selfSigned := httptest.NewTLSServer(rollout.ArtifactHandler(st.ArtifactDir()))
	defer selfSigned.Close()

	cases := []struct {
		name      string
		server    *tls.Config // nil: plain http
		url       string      // set: download from here instead
		allowHTTP bool
		want      string // "" downloads; else the refusal contains it
	}{
		{name: "server certificate from the fleet CA", server: fleettest.ServerCert(t, fleet, "artifacts", "127.0.0.1")},
		{name: "self-signed certificate", url: selfSigned.URL + "/artifacts/" + a.SHA256, want: "certificate"},
		{name: "certificate from another CA", server: fleettest.ServerCert(t, impostor, "artifacts", "127.0.0.1"), want: "unknown authority"},
		{name: "fleet certificate for another host", server: fleettest.ServerCert(t, fleet, "elsewhere", "10.9.9.9"), want: "10.9.9.9"},
		{name: "fleet agent certificate used as a server's", server: agentAsServer, want: "certificate"},
		{name: "plain http refused", want: "not https"},
		{name: "plain http allowed for development", allowHTTP: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if url == "" {
				srv, err := st.Serve("127.0.0.1:0", "", c.server)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close(context.Background())
				url = srv.URL(a.SHA256)
				if want := rollout.ArtifactScheme(c.server != nil) + "://"; !strings.HasPrefix(url, want) {
					t.Fatalf("served at %s, want %s", url, want)
				}
			}
			part := filepath.Join(t.TempDir(), "part")
			d := install.Download{Client: install.ArtifactClient(agentTLS, c.allowHTTP), URL: url, Path: part, Size: a.Size, Backoff: time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// RunPatient waits forever on an unreachable server: returning
			// at all shows a refusal is final.
			err := d.RunPatient(ctx, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(part); !bytes.Equal(got, body) {
					t.Fatalf("downloaded %d bytes, want the artifact's %d", len(got), len(body))
				}
				return
			}
			if !errors.Is(err, install.ErrUntrusted) || errors.Is(err, install.ErrUnreachable) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("download: %v, want a final refusal (ErrUntrusted) containing %q", err, c.want)
			}
		})
	}
}

func TestArtifactServerTLSAdvertise(t *testing.T) {
	st, err := rollout.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{}
	cases := []struct {
		name, advertise string
		tc              *tls.Config
		want            string
	}{
		{name: "http advertised for a TLS server", advertise: "http://10.0.0.5:8080", tc: tc, want: "speaks https"},
		{name: "https advertised for a plain server", advertise: "https://10.0.0.5:8080", want: "speaks http"},
		{name: "every interface without advertise", tc: tc, want: "--advertise https://"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			listen := "127.0.0.1:0"
			if c.advertise == "" {
				listen = "0.0.0.0:0"
			}
			srv, err := st.Serve(listen, c.advertise, c.tc)
			if err == nil {
				srv.Close(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Serve: %v, want an error containing %q", err, c.want)
			}
		})
	}
}
