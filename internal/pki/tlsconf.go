package pki

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// maxPEM bounds what is read from a certificate or key file.
const maxPEM = 1 << 20

// readPEM reads the first PEM block of path, which must be of type want.
func readPEM(path, what, want string) ([]byte, error) {
	b, err := ReadSmall(path, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s %s: no PEM block", what, path)
	}
	if blk.Type != want {
		return nil, fmt.Errorf("%s %s: PEM block %q, want %s", what, path, blk.Type, want)
	}
	return blk.Bytes, nil
}

// ReadSmall reads a regular file of at most max bytes: key material and
// account files are small, and a FIFO or a huge file must not hang or
// exhaust the reader.
func ReadSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", path, st.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// LoadCert reads one PEM certificate.
func LoadCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "certificate", "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return c, nil
}

// LoadKey reads an ECDSA private key in PKCS#8 PEM.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	der, err := readPEM(path, "key", "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key %s: %T, want an ECDSA key", path, k)
	}
	return ek, nil
}

// LoadPool reads a CA certificate file (one or more PEM certificates) as a
// pool of trusted roots.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := ReadSmall(path, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA certificate %s: no certificate in it", path)
	}
	return pool, nil
}

func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("a certificate needs both a cert file and a key file (got %q and %q)", certFile, keyFile)
	}
	for _, p := range []string{certFile, keyFile} {
		if _, err := ReadSmall(p, maxPEM); err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS key pair: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}

// ServerTLS is the broker's TLS configuration: its certificate, and, when
// clientCA is set, verification of client certificates against it.
// requireClient makes a client certificate mandatory; without it a client
// may still log in with a password over the encrypted channel.
func ServerTLS(certFile, keyFile, clientCA string, requireClient bool) (*tls.Config, error) {
	pair, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := LoadPool(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if requireClient {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else if requireClient {
		return nil, fmt.Errorf("client certificates required but no client CA given")
	}
	return cfg, nil
}

// ClientTLS is a peer's TLS configuration: the CA that must have signed the
// broker's certificate, and optionally the peer's own certificate and key.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, fmt.Errorf("TLS needs the CA certificate that signed the broker's (--tls-ca)")
	}
	pool, err := LoadPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		pair, err := loadPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}
