package rollout

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
	"edgenas/internal/ident"
	"edgenas/internal/safefile"
)

// Artifact is one file the host serves, named by its content.
type Artifact struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Path is the content-addressed copy in the store.
	Path string `json:"path"`
}

// AddArtifact copies the file at src into the store under its sha256, so
// what is served cannot change under a running rollout even if src does.
func (s *Store) AddArtifact(src string) (Artifact, error) {
	f, _, err := safefile.Open(src, proto.MaxArtifact)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", src, err)
	}
	if n == 0 {
		return Artifact{}, fmt.Errorf("artifact %s: empty file", src)
	}
	if n > proto.MaxArtifact {
		return Artifact{}, fmt.Errorf("artifact %s: %d bytes, more than the %d an agent accepts", src, n, proto.MaxArtifact)
	}
	a := Artifact{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	a.Path = filepath.Join(s.ArtifactDir(), a.SHA256)
	if fi, err := os.Stat(a.Path); err == nil && fi.Size() == n {
		return a, nil // already there: the name is the content
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", src, err)
	}
	// Hash again while copying so a file changed between the two reads is
	// caught instead of stored under the wrong name.
	h2 := sha256.New()
	err = atomicfile.Write(a.Path, func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(w, h2), f)
		return err
	})
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", src, err)
	}
	if got := hex.EncodeToString(h2.Sum(nil)); got != a.SHA256 {
		os.Remove(a.Path)
		return Artifact{}, fmt.Errorf("artifact %s changed while it was being copied", src)
	}
	return a, nil
}

// ArtifactHandler serves DIR/<sha256> at /artifacts/<sha256> with
// http.ServeContent, so Range and If-Range requests (resumed downloads)
// work. Anything that is not a 64-hex-digit name of a file in dir is 404.
func ArtifactHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		sha, ok := strings.CutPrefix(r.URL.Path, "/artifacts/")
		if !ok || !ident.IsSHA256(sha) {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, sha))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		// The content never changes under a name, so the name is a strong
		// ETag: If-Range from a resuming client then matches exactly.
		w.Header().Set("ETag", `"`+sha+`"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})
}

// Server is the artifact HTTP server of a running deploy.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	base string
	done chan error
}

// Serve listens on listen (HOST:PORT; port 0 picks one) and serves the
// store's artifacts, over TLS when tc is set (a server certificate issued
// by the fleet CA, which agents verify the server with). advertise is the
// base URL agents use (http[s]://HOST:PORT); empty derives it from the bound
// address, which needs a concrete host: listening on all interfaces
// requires advertise.
func (s *Store) Serve(listen, advertise string, tc *tls.Config) (*Server, error) {
	base, err := advertiseURL(listen, advertise, tc != nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("artifact server: %w", err)
	}
	if advertise == "" {
		base = ArtifactScheme(tc != nil) + "://" + ln.Addr().String()
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	mux := http.NewServeMux()
	mux.Handle("/artifacts/", ArtifactHandler(s.ArtifactDir()))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	as := &Server{srv: srv, ln: ln, base: base, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		as.done <- err
	}()
	return as, nil
}

// ArtifactScheme is the URL scheme of an artifact server, https with TLS.
func ArtifactScheme(tlsOn bool) string {
	if tlsOn {
		return "https"
	}
	return "http"
}

// CheckAdvertise checks an advertised artifact base URL: http[s]://HOST:PORT
// with the scheme the server actually speaks.
func CheckAdvertise(advertise string, tlsOn bool) error {
	want := ArtifactScheme(tlsOn)
	u, err := url.Parse(advertise)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("--advertise %q: want %s://HOST:PORT", advertise, want)
	}
	if u.Scheme != want {
		return fmt.Errorf("--advertise %q: the artifact server speaks %s (TLS certificate given: %t)", advertise, want, tlsOn)
	}
	return nil
}

func advertiseURL(listen, advertise string, tlsOn bool) (string, error) {
	if advertise != "" {
		if err := CheckAdvertise(advertise, tlsOn); err != nil {
			return "", err
		}
		return strings.TrimSuffix(advertise, "/"), nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: want HOST:PORT: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", fmt.Errorf("--listen %q listens on every interface: give --advertise %s://ADDRESS-AGENTS-REACH:PORT", listen, ArtifactScheme(tlsOn))
	}
	return "", nil
}

// URL is the artifact's URL as agents fetch it.
func (a *Server) URL(sha string) string { return a.base + "/artifacts/" + sha }

// Base is the advertised base URL.
func (a *Server) Base() string { return a.base }

// Close stops the server, waiting (bounded by ctx) for downloads in flight.
func (a *Server) Close(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		a.srv.Close()
	}
	if serr := <-a.done; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("artifact server: %w", err)
	}
	return nil
}
