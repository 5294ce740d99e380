package install

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent/proto"
)

// cutServer serves body, but the first request sends only half of it and
// then drops the connection.
func cutServer(t *testing.T, body []byte) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // closes the connection mid-body
		}
		http.ServeContent(w, r, "a", time.Time{}, strings.NewReader(string(body)))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), ranges...) }
}

func TestDownloadResumes(t *testing.T) {
	body := make([]byte, 300<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	srv, ranges := cutServer(t, body)
	part := filepath.Join(t.TempDir(), "part")
	var seen []int64
	d := &Download{URL: srv.URL, Path: part, Size: int64(len(body)), Backoff: time.Millisecond,
		Progress: func(h int64) { seen = append(seen, h) }}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(part)
	if string(got) != string(body) {
		t.Fatalf("downloaded %d bytes, content differs", len(got))
	}
	rs := ranges()
	if len(rs) != 2 || rs[0] != "" || rs[1] != "bytes="+strconv.Itoa(len(body)/2)+"-" {
		t.Fatalf("requests' Range headers %q, want none then bytes=%d-", rs, len(body)/2)
	}
	if len(seen) == 0 || seen[len(seen)-1] != int64(len(body)) {
		t.Errorf("progress %v", seen)
	}
}

func TestDownloadRefusals(t *testing.T) {
	body := []byte(strings.Repeat("x", 1000))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/flaky":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			http.ServeContent(w, r, "a", time.Time{}, strings.NewReader(string(body)))
		}
	}))
	defer srv.Close()
	cases := []struct {
		name, path string
		size       int64
		prefill    int
		artifact   bool
		want       string
	}{
		{"longer than manifest", "/a", 800, 0, true, "server sends 1000 bytes, manifest says 800"},
		{"shorter than manifest", "/a", 1200, 0, true, "server sends 1000 bytes"},
		{"shorter, resumed", "/a", 1200, 1100, true, "server has 1000 bytes"},
		{"not found", "/missing", 1000, 0, false, "404"},
		{"server error retried", "/flaky", 1000, 0, false, "3 attempts failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			part := filepath.Join(t.TempDir(), "part")
			if c.prefill > 0 {
				os.WriteFile(part, []byte(strings.Repeat("x", c.prefill)), 0o644)
			}
			d := &Download{URL: srv.URL + c.path, Path: part, Size: c.size, Attempts: 3, Backoff: time.Millisecond}
			err := d.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrArtifact) != c.artifact {
				t.Fatalf("error %v, want one mentioning %q (artifact mismatch: %v)", err, c.want, c.artifact)
			}
		})
	}
}

// TestInstallResumesCutDownload runs the cut download through a whole install.
func TestInstallResumesCutDownload(t *testing.T) {
	f := newFixture(t)
	body, exp := testModel(t, "fc-input:512-output:10")
	srv, ranges := cutServer(t, body)
	a := f.start(f.pub, nil)
	m := f.serve("m", 1, body, exp)
	m.URL = srv.URL + "/artifacts/" + m.SHA256
	a.deploy("r1", f.sign(m))
	if r := a.final(t, 1); r.State != proto.InstallCommitted {
		t.Fatalf("%+v", r)
	}
	if rs := ranges(); len(rs) != 2 || rs[1] != "bytes="+strconv.Itoa(len(body)/2)+"-" {
		t.Fatalf("Range headers %q", rs)
	}
	mustCheck(t, a.models, "m", 1)
}
