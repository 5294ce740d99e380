package fleettest

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
	"edgenas/internal/pki"
)

// TLSOptions shape a test broker with mutual TLS.
type TLSOptions struct {
	// Hosts are the host identities (certificate names) the broker gives
	// the host role; default {"host"}.
	Hosts []string
	// Broker, if set, replaces the embedded broker's configuration (its
	// listen addresses and TLS are filled in); ignored by mosquitto.
	Broker broker.Config
}

// TLSBroker is a running test broker that authenticates peers by
// certificates issued by its own fresh CA. The embedded one also accepts
// the Host account's password over TLS; mosquitto requires a certificate
// (require_certificate, use_identity_as_username) and replaces every client
// id with the certificate's name (use_username_as_clientid), which is how
// mosquitto keeps one device from taking over another's session.
type TLSBroker struct {
	Kind string
	CA   *pki.CA
	// CACert is the CA certificate file every peer verifies the broker with.
	CACert string
	dir    string
	addr   string
	emb    *broker.Broker
	cmd    *exec.Cmd
	logf   *os.File
}

// URL is the broker's mqtts:// URL.
func (b *TLSBroker) URL() string { return "mqtts://" + b.addr }

// Addr is the TLS listener's host:port.
func (b *TLSBroker) Addr() string { return b.addr }

// StartTLS starts a broker of kind with a TLS listener on a free loopback
// port and stops it when the test ends. Mosquitto missing skips, except
// under CI=true where it fails.
func StartTLS(t testing.TB, kind string, opts TLSOptions) *TLSBroker {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"), "test CA", false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pki.Request{Name: "broker", Role: pki.RoleServer, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, caCert, err := ca.WriteBundle(filepath.Join(dir, "broker"), srv)
	if err != nil {
		t.Fatal(err)
	}
	b := &TLSBroker{Kind: kind, CA: ca, CACert: caCert, dir: dir, addr: freeAddr(t)}
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{Host.Name}
	}
	switch kind {
	case Embedded:
		cfg := opts.Broker
		if len(cfg.Users) == 0 {
			cfg.Users = []broker.User{Host}
		}
		if cfg.TLS, err = pki.ServerTLS(cert, key, caCert, false); err != nil {
			t.Fatal(err)
		}
		cfg.Addr, cfg.TLSAddr = "", b.addr
		if b.emb, err = broker.Start(cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.emb.Close() })
	case Mosquitto:
		b.startMosquitto(t, cert, key, opts.Hosts)
	default:
		t.Fatalf("unknown broker kind %q", kind)
	}
	return b
}

func (b *TLSBroker) startMosquitto(t testing.TB, cert, key string, hosts []string) {
	t.Helper()
	bin := mosquittoPath(t)
	_, port, _ := net.SplitHostPort(b.addr)
	var acl strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&acl, "user %s\ntopic readwrite %s/#\n\n", h, proto.Prefix)
	}
	for _, k := range proto.AgentKinds() {
		fmt.Fprintf(&acl, "pattern write %s\n", proto.Topic("%u", k))
	}
	for _, k := range proto.HostKinds() {
		fmt.Fprintf(&acl, "pattern read %s\n", proto.Topic("%u", k))
	}
	aclPath := filepath.Join(b.dir, "acl")
	if err := os.WriteFile(aclPath, []byte(acl.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("per_listener_settings false\npersistence false\nuser root\nmax_packet_size %d\nallow_anonymous false\nacl_file %s\n"+
		"listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\nuse_username_as_clientid true\n",
		300<<10, aclPath, port, b.CACert, cert, key)
	confPath := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.logf = f
	b.cmd = exec.Command(bin, "-c", confPath)
	b.cmd.Stdout, b.cmd.Stderr = f, f
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %s", b.addr, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mosquittoPath finds the mosquitto binary, skipping (or, under CI=true,
// failing) the test when it is not installed.
func mosquittoPath(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("mosquitto"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto not installed (make deps installs it)")
	}
	t.Skip("mosquitto not installed (make deps installs it); skipping the mosquitto variant")
	return ""
}

// Log returns mosquitto's log so far ("" for the embedded broker).
func (b *TLSBroker) Log() string {
	if b.logf == nil {
		return ""
	}
	out, _ := os.ReadFile(b.logf.Name())
	return string(out)
}

// Issue issues a certificate for name in role and returns the client TLS
// configuration presenting it.
func (b *TLSBroker) Issue(t testing.TB, name string, role pki.Role) *tls.Config {
	t.Helper()
	is, err := b.CA.Issue(pki.Request{Name: name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, caCert, err := b.CA.WriteBundle(filepath.Join(b.dir, "peers", name), is)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(caCert, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Anonymous returns a client TLS configuration that verifies the broker but
// presents no certificate (a password login over TLS).
func (b *TLSBroker) Anonymous(t testing.TB) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientTLS(b.CACert, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ServerCert issues a server certificate named name from ca for hosts and
// returns the server TLS configuration presenting it (an artifact server's).
func ServerCert(t testing.TB, ca *pki.CA, name string, hosts ...string) *tls.Config {
	t.Helper()
	is, err := ca.Issue(pki.Request{Name: name, Role: pki.RoleServer, Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := ca.WriteBundle(filepath.Join(t.TempDir(), name), is)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ServerTLS(cert, key, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
