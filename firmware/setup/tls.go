package setup

import (
	"crypto/x509"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"edgenas/internal/atomicfile"
	"edgenas/internal/pki"
)

// TLSDirName is where a device's certificate bundle lives under its data
// directory.
const TLSDirName = "tls"

// flagValue returns the value args give flag name ("--name V" or
// "--name=V", one or two dashes).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, p := range []string{"-" + name, "--" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// tlsBundle names a device's three TLS files in dir, as `edgenas keys
// device issue` writes them.
type tlsBundle struct{ ca, cert, key string }

func bundleIn(dir, id string, join func(...string) string) tlsBundle {
	return tlsBundle{ca: join(dir, pki.CACertFile), cert: join(dir, id+".crt"), key: join(dir, id+".key")}
}

// checkTLSDir verifies, on the host, that dir holds a certificate bundle
// for the agent the arguments name: the pair loads, it chains to the CA
// file beside it, and its identity is that agent. It returns the agent id.
func checkTLSDir(dir string, agentArgs []string) (string, error) {
	id, ok := flagValue(agentArgs, "id")
	if !ok || id == "" {
		return "", fmt.Errorf("--tls-dir needs the agent's --id in the agent arguments (the files are ID.crt and ID.key)")
	}
	b := bundleIn(dir, id, filepath.Join)
	if _, err := pki.ClientTLS(b.ca, b.cert, b.key); err != nil {
		return "", fmt.Errorf("--tls-dir %s: %w", dir, err)
	}
	cert, err := pki.LoadCert(b.cert)
	if err != nil {
		return "", err
	}
	pool, err := pki.LoadPool(b.ca)
	if err != nil {
		return "", err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", fmt.Errorf("--tls-dir: %s does not chain to %s: %w", b.cert, b.ca, err)
	}
	name, role, err := pki.Identity(cert)
	if err != nil {
		return "", fmt.Errorf("--tls-dir: %w", err)
	}
	if name != id || role != pki.RoleAgent {
		return "", fmt.Errorf("--tls-dir: %s is the %s certificate of %q, not agent %q's", b.cert, role, name, id)
	}
	return id, nil
}

// withTLSArgs points the agent's --tls-ca/--tls-cert/--tls-key at the
// bundle under data (a device path: always slash-separated) unless the
// arguments already set them.
func withTLSArgs(args []string, data, id string) []string {
	b := bundleIn(path.Join(data, TLSDirName), id, path.Join)
	out := append([]string(nil), args...)
	for _, f := range []struct{ flag, path string }{{"tls-ca", b.ca}, {"tls-cert", b.cert}, {"tls-key", b.key}} {
		if !hasFlag(out, f.flag) {
			out = append(out, "--"+f.flag, f.path)
		}
	}
	return out
}

// copyTLS copies the bundle for id from src into dst (the key stays 0600).
func copyTLS(src, dst, id string) error {
	from, to := bundleIn(src, id, filepath.Join), bundleIn(dst, id, filepath.Join)
	if from == to {
		return nil
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for _, f := range []struct {
		from, to string
		secret   bool
	}{{from.ca, to.ca, false}, {from.cert, to.cert, false}, {from.key, to.key, true}} {
		b, err := pki.ReadSmall(f.from, 1<<20)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		write := atomicfile.WriteFile
		if f.secret {
			write = atomicfile.WritePrivate
		}
		if err := write(f.to, b); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	return nil
}

// tlsSteps are the remote steps that put the bundle into DATA/tls with the
// key readable by its owner only; put copies one local file to a remote path.
func tlsSteps(o Options, d string, put func(local, remote string) []string, shell func(cmd string) []string) []Step {
	if o.TLSDir == "" {
		return nil
	}
	id, _ := flagValue(o.AgentArgs, "id")
	from, to := bundleIn(o.TLSDir, id, filepath.Join), bundleIn(path.Join(d, TLSDirName), id, path.Join)
	return []Step{
		{Desc: "create the TLS directory", Argv: shell("mkdir -p " + path.Join(d, TLSDirName) + " && chmod 700 " + path.Join(d, TLSDirName))},
		{Desc: "copy the CA certificate", Argv: put(from.ca, to.ca)},
		{Desc: "copy the device certificate", Argv: put(from.cert, to.cert)},
		{Desc: "copy the device key (mode 0600)", Argv: put(from.key, to.key)},
		{Desc: "restrict the device key", Argv: shell("chmod 600 " + to.key)},
	}
}
