// Package pki is the fleet's small certificate authority: the host creates
// a CA once, issues every device (and the broker, and the host itself) a
// key and certificate, and all MQTT connections use mutual TLS against it.
// A certificate's common name is the peer's broker identity (an agent id or
// a host account name) and its organizational unit its role, so the broker
// needs no password file to know who is connecting.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
)

// Files of a CA directory and of an issued bundle.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	// issuedDir under the CA directory keeps a copy of every certificate
	// issued, so one name is never given two roles.
	issuedDir = "issued"
)

// Role is what a certificate's holder is; it travels in the subject's
// organizational unit.
type Role string

// Roles.
const (
	// RoleAgent is a device: its common name is its agent id.
	RoleAgent Role = "agent"
	// RoleHost is a host process (fleet profile, deploy, list).
	RoleHost Role = "host"
	// RoleServer is a broker: its certificate names the DNS names and IP
	// addresses clients dial.
	RoleServer Role = "server"
)

// ouPrefix marks the organizational unit as ours, so a certificate from
// some other hierarchy that happens to chain to the CA is not misread.
const ouPrefix = "edgenas-"

// CAValidity and CertValidity are how long certificates last. Rotation is
// re-issuing (same name, same role) before expiry.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 2 * 365 * 24 * time.Hour
)

// CA is a loaded certificate authority.
type CA struct {
	Dir  string
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// InitCA creates a CA (ECDSA P-256) in dir: ca.key (mode 0600) and ca.crt.
// It refuses to replace an existing key unless force is set, because every
// certificate issued by the old one stops verifying.
func InitCA(dir, name string, force bool) (*CA, error) {
	keyPath := filepath.Join(dir, CAKeyFile)
	if _, err := os.Stat(keyPath); err == nil && !force {
		return nil, fmt.Errorf("ca init: %s already exists (every issued certificate chains to it; use --force to replace it)", keyPath)
	}
	if name == "" {
		name = "edgenas fleet CA"
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, OrganizationalUnit: []string{ouPrefix + "ca"}},
		NotAfter:              time.Now().Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	key, cert, err := sign(tmpl, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("ca init: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, issuedDir), 0o700); err != nil {
		return nil, fmt.Errorf("ca init: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca init: %w", err)
	}
	if err := atomicfile.WritePrivate(keyPath, keyPEM); err != nil {
		return nil, fmt.Errorf("ca init: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, CACertFile), encodeCert(cert.Raw)); err != nil {
		return nil, fmt.Errorf("ca init: %w", err)
	}
	return &CA{Dir: dir, Cert: cert, key: key}, nil
}

// LoadCA reads a CA created by InitCA and checks that its key and
// certificate belong together.
func LoadCA(dir string) (*CA, error) {
	cert, err := LoadCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("%w (create one with `edgenas keys ca init --dir %s`)", err, dir)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", filepath.Join(dir, CACertFile))
	}
	key, err := LoadKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", filepath.Join(dir, CAKeyFile), filepath.Join(dir, CACertFile))
	}
	return &CA{Dir: dir, Cert: cert, key: key}, nil
}

// Request is one certificate to issue.
type Request struct {
	// Name is the common name: an agent id (RoleAgent), a host account name
	// (RoleHost) or a label (RoleServer).
	Name string
	Role Role
	// Hosts are the DNS names and IP addresses a server certificate is valid
	// for (RoleServer only; at least one).
	Hosts    []string
	Validity time.Duration
}

func (r Request) check() error {
	switch r.Role {
	case RoleAgent:
		if err := proto.ValidID(r.Name); err != nil {
			return err
		}
	case RoleHost, RoleServer:
		if err := proto.ValidID(r.Name); err != nil {
			return fmt.Errorf("%s name: %w", r.Role, err)
		}
	default:
		return fmt.Errorf("role %q, want agent, host or server", r.Role)
	}
	if r.Role == RoleServer && len(r.Hosts) == 0 {
		return fmt.Errorf("a server certificate needs at least one host name or IP address (--host)")
	}
	if r.Role != RoleServer && len(r.Hosts) > 0 {
		return fmt.Errorf("only server certificates carry host names (--host)")
	}
	for _, h := range r.Hosts {
		if h == "" || strings.ContainsAny(h, " /*") {
			return fmt.Errorf("host %q: want a DNS name or an IP address", h)
		}
	}
	return nil
}

// Issued is a freshly issued key and certificate, PEM encoded.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Issue creates a key pair and a certificate for r, signed by the CA, and
// records it under the CA directory. A name already issued with another
// role is refused: one name, one role, so a device can never be handed a
// host's identity by mistake.
func (ca *CA) Issue(r Request) (*Issued, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	record := filepath.Join(ca.Dir, issuedDir, r.Name+".crt")
	if prev, err := LoadCert(record); err == nil {
		name, role, err := Identity(prev)
		if err == nil && name == r.Name && role != r.Role {
			return nil, fmt.Errorf("issue: %q was already issued as %s; one name has one role", r.Name, role)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("issue: %w", err)
	}
	validity := r.Validity
	if validity <= 0 {
		validity = CertValidity
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: r.Name, OrganizationalUnit: []string{ouPrefix + string(r.Role)}},
		NotAfter:    time.Now().Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if r.Role == RoleServer {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range r.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	key, cert, err := sign(tmpl, ca.Cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	out := &Issued{Cert: cert, CertPEM: encodeCert(cert.Raw), KeyPEM: keyPEM}
	if err := os.MkdirAll(filepath.Dir(record), 0o700); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	if err := atomicfile.WriteFile(record, out.CertPEM); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	return out, nil
}

// WriteBundle writes what a peer needs into dir: NAME.crt, NAME.key (mode
// 0600) and ca.crt (to verify the broker). It returns the three paths.
func (ca *CA) WriteBundle(dir string, is *Issued) (cert, key, caCert string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", fmt.Errorf("write bundle: %w", err)
	}
	name := is.Cert.Subject.CommonName
	cert, key, caCert = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, CACertFile)
	if err := atomicfile.WritePrivate(key, is.KeyPEM); err != nil {
		return "", "", "", fmt.Errorf("write bundle: %w", err)
	}
	if err := atomicfile.WriteFile(cert, is.CertPEM); err != nil {
		return "", "", "", fmt.Errorf("write bundle: %w", err)
	}
	if err := atomicfile.WriteFile(caCert, encodeCert(ca.Cert.Raw)); err != nil {
		return "", "", "", fmt.Errorf("write bundle: %w", err)
	}
	return cert, key, caCert, nil
}

// Identity reads the name and role a certificate issued by Issue carries.
func Identity(c *x509.Certificate) (string, Role, error) {
	var role Role
	for _, ou := range c.Subject.OrganizationalUnit {
		if r, ok := strings.CutPrefix(ou, ouPrefix); ok {
			if role != "" {
				return "", "", fmt.Errorf("certificate %q: more than one role", c.Subject.CommonName)
			}
			role = Role(r)
		}
	}
	switch role {
	case RoleAgent, RoleHost, RoleServer:
	case "":
		return "", "", fmt.Errorf("certificate %q carries no edgenas role", c.Subject.CommonName)
	default:
		return "", "", fmt.Errorf("certificate %q: unknown role %q", c.Subject.CommonName, role)
	}
	if err := proto.ValidID(c.Subject.CommonName); err != nil {
		return "", "", fmt.Errorf("certificate common name: %w", err)
	}
	return c.Subject.CommonName, role, nil
}

// Fingerprint is the SHA-256 of a certificate's DER, as "sha256:HEX".
func Fingerprint(c *x509.Certificate) string {
	return fingerprint(c.Raw)
}

// sign creates a P-256 key and a certificate for it from tmpl, signed by
// parent's key (nil parent: self-signed), with a random serial and a
// NotBefore an hour back to absorb clock skew between host and devices.
func sign(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// encodeKey renders a private key as the PKCS#8 PEM LoadKey reads.
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
