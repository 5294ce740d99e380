package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"edgenas/agent/proto"
	"edgenas/internal/pki"
)

// maxSecretFile bounds a password file.
const maxSecretFile = 4 << 10

// tlsFlags select the CA and this peer's certificate for an mqtts:// broker.
type tlsFlags struct{ ca, cert, key string }

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "tls-ca", "", "CA certificate `file` that signed the broker's (ca.crt from 'edgenas keys ca init'); for mqtts:// URLs")
	fs.StringVar(&t.cert, "tls-cert", "", "this peer's certificate `file` (from 'edgenas keys device issue'): mutual TLS, no password")
	fs.StringVar(&t.key, "tls-key", "", "this peer's private key (with --tls-cert)")
}

// config is the client TLS configuration, or nil when no TLS flag is set
// (a plain URL, or an mqtts:// URL verified against the system's roots).
func (t *tlsFlags) config() (*tls.Config, error) {
	if t.ca == "" && t.cert == "" && t.key == "" {
		return nil, nil
	}
	cfg, err := pki.ClientTLS(t.ca, t.cert, t.key)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return cfg, nil
}

// secretFlags take a password from a file or the environment: never from
// argv, where every user of the machine can read it (ps). --password stays
// for compatibility with scripts and says so.
type secretFlags struct {
	env, file, argv string
}

func (s *secretFlags) register(fs *flag.FlagSet, env string) {
	s.env = env
	fs.StringVar(&s.file, "password-file", "", "file holding the broker password (default $"+env+")")
	fs.StringVar(&s.argv, "password", "", "broker password (deprecated: visible in ps; use --password-file or $"+env+")")
}

// value resolves the password: --password, then --password-file, then the
// environment; "" when none is set.
func (s *secretFlags) value() (string, error) {
	if s.argv != "" {
		return s.argv, nil
	}
	if s.file != "" {
		return readSecret(s.file)
	}
	return os.Getenv(s.env), nil
}

// readSecret reads a one-line secret file (a trailing newline is dropped).
func readSecret(path string) (string, error) {
	b, err := pki.ReadSmall(path, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	if strings.ContainsAny(pw, "\r\n") {
		return "", fmt.Errorf("password file %s: more than one line", path)
	}
	return pw, nil
}

// hostFlags are the connection flags of every host-side command.
type hostFlags struct {
	broker, user string
	pw           secretFlags
	tls          tlsFlags
}

func (h *hostFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.broker, "broker", "tcp://127.0.0.1:1883", "broker URL, tcp://HOST:PORT or mqtts://HOST:PORT")
	fs.StringVar(&h.user, "user", "host", "broker user name (with a --tls-cert, empty or the certificate's name)")
	h.pw.register(fs, "EDGENAS_HOST_PASSWORD")
	h.tls.register(fs)
}

// conn resolves the flags into a connection configuration.
func (h *hostFlags) conn() (proto.ConnConfig, error) {
	pw, err := h.pw.value()
	if err != nil {
		return proto.ConnConfig{}, err
	}
	tc, err := h.tls.config()
	if err != nil {
		return proto.ConnConfig{}, err
	}
	user := h.user
	if tc != nil && len(tc.Certificates) > 0 {
		// The certificate is the identity; a user name other than its own is refused.
		user, pw = "", ""
	}
	return proto.ConnConfig{Broker: h.broker, Username: user, Password: pw, TLS: tc}, nil
}
