package install

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrArtifact marks a download whose artifact does not match its manifest
// (wrong size); retrying cannot help, so the install is refused.
var ErrArtifact = errors.New("artifact does not match the manifest")

// ErrUntrusted marks a download refused because the artifact server could
// not prove it is the fleet's: its certificate is not signed by the CA the
// agent trusts (or not for that host, or not a server certificate), or the
// URL is plain http while the agent requires https. Retrying cannot change
// that, so the install is refused rather than waited on.
var ErrUntrusted = errors.New("artifact server not trusted")

// ArtifactClient is the HTTP client an agent downloads artifacts with.
// With fleet nil it is HTTPClient (system roots, plain http allowed). With
// fleet set (the agent's --tls-ca configuration for the broker) an https
// server must present a certificate issued by that CA, and a plain http
// URL is refused unless allowHTTP (development): a device that verifies its
// broker must not take its software from whoever answers on the network.
func ArtifactClient(fleet *tls.Config, allowHTTP bool) *http.Client {
	c := HTTPClient()
	if fleet == nil {
		return c
	}
	tr := c.Transport.(*http.Transport)
	tc := fleet.Clone()
	// The broker's name is not the artifact server's: let the URL's host name it.
	tc.ServerName = ""
	tr.TLSClientConfig = tc
	if !allowHTTP {
		c.Transport = httpsOnly{tr}
	}
	return c
}

// httpsOnly refuses plain http requests, redirects included.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: %s is not https and this agent verifies its fleet's TLS (--tls-ca); serve artifacts over https "+
			"(--artifact-tls-cert) or start the agent with --artifact-http", ErrUntrusted, r.URL.Redacted())
	}
	return h.next.RoundTrip(r)
}

// untrusted reports whether err is a refused server certificate.
func untrusted(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.Is(err, ErrUntrusted) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &verify)
}

// Download fetches an artifact into a partial file, resuming from the bytes
// already there with an HTTP Range request, until the file holds Size bytes.
type Download struct {
	Client *http.Client
	URL    string
	// Path is the partial file; it persists across attempts and restarts.
	Path string
	Size int64
	// Attempts is how many requests may be made in total (default 5); an
	// interrupted transfer is retried from where it stopped after Backoff
	// (default 200 ms, doubling up to 5 s).
	Attempts int
	Backoff  time.Duration
	// Progress is called after each chunk is written with the bytes held.
	Progress func(have int64)
}

// Run downloads until the partial file is complete. It returns an error
// wrapping ErrArtifact when the server's artifact has the wrong size,
// ErrUntrusted when the server is not the fleet's, and ErrUnreachable when
// the server could not be reached or kept failing.
func (d *Download) Run(ctx context.Context) error {
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	backoff := d.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	client := d.Client
	if client == nil {
		client = HTTPClient()
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		done, err := d.attempt(ctx, client)
		if done {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
	}
	return fmt.Errorf("%w: download %s: %d attempts failed, last: %w", ErrUnreachable, d.URL, attempts, last)
}

// attempt makes one request. done reports that retrying is pointless
// (success, or an error that will not change).
func (d *Download) attempt(ctx context.Context, client *http.Client) (done bool, err error) {
	have, err := d.have()
	if err != nil {
		return true, err
	}
	if have == d.Size {
		return true, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return true, fmt.Errorf("download %s: %w", d.URL, err)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		if untrusted(err) {
			if !errors.Is(err, ErrUntrusted) {
				err = fmt.Errorf("%w: %w", ErrUntrusted, err)
			}
			return true, fmt.Errorf("download %s: %w", d.URL, err)
		}
		return false, fmt.Errorf("download %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && total >= 0 && total != d.Size {
			return true, fmt.Errorf("%w: server has %d bytes, manifest says %d", ErrArtifact, total, d.Size)
		}
		if !ok || start != have {
			// Not the range asked for: start over rather than splice.
			return false, d.truncate(fmt.Errorf("download %s: unexpected Content-Range %q for offset %d", d.URL, resp.Header.Get("Content-Range"), have))
		}
	case http.StatusOK:
		// The server ignored the Range header: the body is the whole file.
		if resp.ContentLength >= 0 && resp.ContentLength != d.Size {
			d.truncate(nil)
			return true, fmt.Errorf("%w: server sends %d bytes, manifest says %d", ErrArtifact, resp.ContentLength, d.Size)
		}
		if err := d.truncate(nil); err != nil {
			return true, err
		}
		have = 0
	case http.StatusRequestedRangeNotSatisfiable:
		// The server's file is not longer than what is held: either it is
		// shorter than the manifest says, or the partial file is stale.
		if _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && total >= 0 && total != d.Size {
			d.truncate(nil)
			return true, fmt.Errorf("%w: server has %d bytes, manifest says %d", ErrArtifact, total, d.Size)
		}
		return false, d.truncate(fmt.Errorf("download %s: range from %d not satisfiable", d.URL, have))
	default:
		err := fmt.Errorf("download %s: HTTP %s", d.URL, resp.Status)
		// 4xx will not get better by asking again; 5xx might.
		return resp.StatusCode >= 400 && resp.StatusCode < 500, err
	}
	f, err := os.OpenFile(d.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return true, fmt.Errorf("download: %w", err)
	}
	defer f.Close()
	// Read one byte past the announced size to notice an oversized artifact.
	n, cerr := copyChunks(f, io.LimitReader(resp.Body, d.Size-have+1), func(n int64) {
		if d.Progress != nil {
			d.Progress(have + n)
		}
	})
	if err := f.Sync(); err != nil {
		return true, fmt.Errorf("download: sync %s: %w", d.Path, err)
	}
	have += n
	switch {
	case have > d.Size:
		d.truncate(nil)
		return true, fmt.Errorf("%w: server sends more than the manifest's %d bytes", ErrArtifact, d.Size)
	case cerr != nil:
		return false, fmt.Errorf("download %s: interrupted at %d of %d bytes: %w", d.URL, have, d.Size, cerr)
	case have < d.Size:
		// The body ended cleanly (its own length was honoured), so the
		// server's file is shorter than the manifest says.
		d.truncate(nil)
		return true, fmt.Errorf("%w: server ended the artifact at %d bytes, manifest says %d", ErrArtifact, have, d.Size)
	}
	return true, nil
}

// have is the length of the partial file (0 if absent); a file longer than
// the artifact cannot be a prefix of it and is discarded.
func (d *Download) have() (int64, error) {
	fi, err := os.Stat(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	if fi.Size() > d.Size {
		return 0, d.truncate(nil)
	}
	return fi.Size(), nil
}

// truncate empties the partial file and returns cause (or its own failure).
func (d *Download) truncate(cause error) error {
	if err := os.Truncate(d.Path, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("download: reset %s: %w", d.Path, err)
	}
	return cause
}

// copyChunks copies in 64 KiB chunks, calling progress after each write.
func copyChunks(w io.Writer, r io.Reader, progress func(n int64)) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			progress(n)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// parseContentRange reads "bytes START-END/TOTAL" or "bytes */TOTAL"
// (TOTAL may be "*", given as -1).
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		v, err := strconv.ParseInt(tot, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total = v
	}
	if rng == "*" {
		return -1, total, true
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	v, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return v, total, true
}
