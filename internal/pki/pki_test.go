package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIssueAndIdentity(t *testing.T) {
	dir := t.TempDir()
	ca, err := InitCA(filepath.Join(dir, "ca"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InitCA(filepath.Join(dir, "ca"), "", false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "ca", CAKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", st.Mode(), err)
	}
	ca, err = LoadCA(ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  Request
		want string // "" issues, else part of the error
	}{
		{name: "agent", req: Request{Name: "pixel7-01", Role: RoleAgent}},
		{name: "host", req: Request{Name: "host", Role: RoleHost}},
		{name: "server", req: Request{Name: "broker", Role: RoleServer, Hosts: []string{"127.0.0.1", "broker.lan"}}},
		{name: "reissue same role", req: Request{Name: "pixel7-01", Role: RoleAgent}},
		{name: "agent named like the host", req: Request{Name: "host", Role: RoleAgent}, want: "already issued as host"},
		{name: "bad id", req: Request{Name: "a/b", Role: RoleAgent}, want: "agent id"},
		{name: "bad role", req: Request{Name: "x", Role: "root"}, want: "role"},
		{name: "server without hosts", req: Request{Name: "b2", Role: RoleServer}, want: "at least one host"},
		{name: "agent with hosts", req: Request{Name: "a9", Role: RoleAgent, Hosts: []string{"x"}}, want: "only server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is, err := ca.Issue(c.req)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("%v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			name, role, err := Identity(is.Cert)
			if err != nil || name != c.req.Name || role != c.req.Role {
				t.Fatalf("identity %q %q %v", name, role, err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			usage := x509.ExtKeyUsageClientAuth
			if role == RoleServer {
				usage = x509.ExtKeyUsageServerAuth
			}
			if _, err := is.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

// TestBundleLoadsAsTLS: a written bundle loads as client and server TLS
// configurations, and the key file is private.
func TestBundleLoadsAsTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := InitCA(filepath.Join(dir, "ca"), "test CA", false)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := ca.Issue(Request{Name: "a1", Role: RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, caCert, err := ca.WriteBundle(filepath.Join(dir, "a1"), dev)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode: %v %v", st.Mode(), err)
	}
	cc, err := ClientTLS(caCert, cert, key)
	if err != nil || len(cc.Certificates) != 1 || cc.RootCAs == nil {
		t.Fatalf("client TLS: %v", err)
	}
	srv, err := ca.Issue(Request{Name: "broker", Role: RoleServer, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	scert, skey, _, err := ca.WriteBundle(filepath.Join(dir, "srv"), srv)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerTLS(scert, skey, caCert, true)
	if err != nil || sc.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("server TLS: %v", err)
	}
	bad := []struct {
		name string
		err  func() error
		want string
	}{
		{name: "no CA", err: func() error { _, err := ClientTLS("", cert, key); return err }, want: "--tls-ca"},
		{name: "cert without key", err: func() error { _, err := ClientTLS(caCert, cert, ""); return err }, want: "both"},
		{name: "key as CA", err: func() error { _, err := ClientTLS(key, "", ""); return err }, want: "no certificate"},
		{name: "swapped pair", err: func() error { _, err := ClientTLS(caCert, key, cert); return err }, want: "key pair"},
		{name: "required without CA", err: func() error { _, err := ServerTLS(scert, skey, "", true); return err }, want: "no client CA"},
		{name: "missing file", err: func() error { _, err := LoadCert(filepath.Join(dir, "nope")); return err }, want: "no such file"},
		{name: "directory", err: func() error { _, err := LoadKey(dir); return err }, want: "not a regular file"},
	}
	for _, c := range bad {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func FuzzIdentity(f *testing.F) {
	f.Add("a1", "edgenas-agent")
	f.Add("host", "edgenas-host")
	f.Add("", "edgenas-")
	f.Fuzz(func(t *testing.T, cn, ou string) {
		c := &x509.Certificate{}
		c.Subject.CommonName, c.Subject.OrganizationalUnit = cn, []string{ou}
		name, role, err := Identity(c)
		if err != nil {
			return
		}
		if name != cn || (role != RoleAgent && role != RoleHost && role != RoleServer) {
			t.Fatalf("Identity(%q, %q) = %q, %q", cn, ou, name, role)
		}
	})
}
