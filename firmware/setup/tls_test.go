package setup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"edgenas/internal/pki"
)

// issueBundle writes a certificate bundle for name in role under dir/name.
func issueBundle(t *testing.T, ca *pki.CA, dir, name string, role pki.Role) string {
	t.Helper()
	is, err := ca.Issue(pki.Request{Name: name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if _, _, _, err := ca.WriteBundle(out, is); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewLocalTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.InitCA(filepath.Join(dir, "other"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	good := issueBundle(t, ca, dir, "d1", pki.RoleAgent)
	host := issueBundle(t, ca, dir, "h1", pki.RoleHost)
	foreign := issueBundle(t, other, filepath.Join(dir, "x"), "d1", pki.RoleAgent)
	// The foreign certificate next to the fleet's CA: it must not chain.
	mixed := filepath.Join(dir, "mixed")
	if err := os.MkdirAll(mixed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{{filepath.Join(good, "ca.crt"), "ca.crt"}, {filepath.Join(foreign, "d1.crt"), "d1.crt"}, {filepath.Join(foreign, "d1.key"), "d1.key"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mixed, f.to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	cases := []struct {
		name     string
		tlsDir   string
		args     []string
		wantArgs []string
		err      string
	}{
		{name: "bundle", tlsDir: good, args: []string{"--id", "d1", "--trust", "/k"},
			wantArgs: []string{"--data-dir", filepath.Join(data, "agent"), "--id", "d1", "--trust", "/k",
				"--tls-ca", filepath.Join(data, "tls", "ca.crt"), "--tls-cert", filepath.Join(data, "tls", "d1.crt"), "--tls-key", filepath.Join(data, "tls", "d1.key")}},
		{name: "own --tls-key kept", tlsDir: good, args: []string{"--id=d1", "--trust", "/k", "--tls-key", "/x.key"},
			wantArgs: []string{"--data-dir", filepath.Join(data, "agent"), "--id=d1", "--trust", "/k", "--tls-key", "/x.key",
				"--tls-ca", filepath.Join(data, "tls", "ca.crt"), "--tls-cert", filepath.Join(data, "tls", "d1.crt")}},
		{name: "no id", tlsDir: good, args: []string{"--trust", "/k"}, err: "needs the agent's --id"},
		{name: "another device's bundle", tlsDir: good, args: []string{"--id", "d2"}, err: "d2.crt"},
		{name: "a host certificate", tlsDir: host, args: []string{"--id", "h1"}, err: "host certificate"},
		{name: "another CA", tlsDir: mixed, args: []string{"--id", "d1"}, err: "does not chain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewLocal(data, "/keys/host.pub", Options{AgentArgs: c.args, TLSDir: c.tlsDir}, true)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("%v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Options.AgentArgs, c.wantArgs) {
				t.Fatalf("args\n%q\nwant\n%q", l.Options.AgentArgs, c.wantArgs)
			}
		})
	}
	// The copy keeps the key private and is a no-op onto itself.
	dst := filepath.Join(data, "tls")
	if err := copyTLS(good, dst, "d1"); err != nil {
		t.Fatal(err)
	}
	if err := copyTLS(dst, dst, "d1"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dst, "d1.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("copied key: %v %v", st.Mode(), err)
	}
	if _, err := checkTLSDir(dst, []string{"--id", "d1"}); err != nil {
		t.Fatalf("copied bundle: %v", err)
	}
}
