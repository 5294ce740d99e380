package install

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunPatient: an artifact that is unreachable for longer than a round
// of attempts is still fetched once it is back; a missing one (4xx) fails
// at once; a shutdown ends the waiting.
func TestRunPatient(t *testing.T) {
	body := []byte(strings.Repeat("artifact", 100))
	cases := []struct {
		name      string
		failFirst int64 // requests answered 503 before the artifact is served
		status    int   // status of the failing requests
		cancel    bool  // cancel the context while it waits
		wantErr   string
		minWaits  int
	}{
		{name: "back after three rounds", failFirst: 10, status: http.StatusServiceUnavailable, minWaits: 3},
		{name: "missing is final", failFirst: 1 << 30, status: http.StatusNotFound, wantErr: "404"},
		{name: "shutdown ends the wait", failFirst: 1 << 30, status: http.StatusBadGateway, cancel: true, wantErr: "context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) <= c.failFirst {
					http.Error(w, "down", c.status)
					return
				}
				http.ServeContent(w, r, "a", time.Time{}, strings.NewReader(string(body)))
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			part := filepath.Join(t.TempDir(), "part")
			d := &Download{URL: srv.URL, Path: part, Size: int64(len(body)), Attempts: 3, Backoff: time.Millisecond}
			waits := 0
			err := d.RunPatient(ctx, func(err error, next time.Duration) {
				if !errors.Is(err, ErrUnreachable) || next <= 0 {
					t.Errorf("wait told %v, next %s", err, next)
				}
				waits++
				if c.cancel && waits == 2 {
					cancel()
				}
			})
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(part); string(got) != string(body) {
					t.Fatalf("downloaded %d bytes, content differs", len(got))
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
			if waits < c.minWaits {
				t.Errorf("%d waits, want >= %d", waits, c.minWaits)
			}
		})
	}
}
