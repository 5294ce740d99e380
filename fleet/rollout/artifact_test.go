package rollout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestArtifactServerRanges(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	src := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := st.AddArtifact(src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(body)) {
		t.Fatalf("artifact %+v, want sha %x size %d", a, sum, len(body))
	}
	// Changing the source afterwards must not change what is served.
	if err := os.WriteFile(src, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := st.Serve("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	url := srv.URL(a.SHA256)
	etag := `"` + a.SHA256 + `"`

	tests := []struct {
		name, rng, ifRange string
		url                string
		method             string
		code               int
		want               []byte
	}{
		{name: "whole", code: 200, want: body},
		{name: "partial", rng: "bytes=10-19", code: 206, want: body[10:20]},
		{name: "resume from offset", rng: "bytes=65536-", code: 206, want: body[65536:]},
		{name: "resume with matching If-Range", rng: "bytes=99990-", ifRange: etag, code: 206, want: body[99990:]},
		{name: "stale If-Range sends all", rng: "bytes=99990-", ifRange: `"other"`, code: 200, want: body},
		{name: "suffix", rng: "bytes=-5", code: 206, want: body[len(body)-5:]},
		{name: "start past end", rng: "bytes=100000-", code: 416},
		{name: "malformed range", rng: "bytes=x-y", code: 416},
		{name: "unknown sha", url: srv.URL(strings.Repeat("ab", 32)), code: 404},
		{name: "not a sha", url: srv.Base() + "/artifacts/../state.json", code: 404},
		{name: "upper-case sha", url: srv.URL(strings.ToUpper(a.SHA256)), code: 404},
		{name: "post refused", method: http.MethodPost, code: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := url
			if tc.url != "" {
				u = tc.url
			}
			method := http.MethodGet
			if tc.method != "" {
				method = tc.method
			}
			req, err := http.NewRequest(method, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rng != "" {
				req.Header.Set("Range", tc.rng)
			}
			if tc.ifRange != "" {
				req.Header.Set("If-Range", tc.ifRange)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.code, got)
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("body of %d bytes differs from the %d expected", len(got), len(tc.want))
			}
			if tc.code == 206 {
				wantCR := fmt.Sprintf("bytes %d-%d/%d", len(body)-len(tc.want), len(body)-1, len(body))
				if tc.rng == "bytes=10-19" {
					wantCR = fmt.Sprintf("bytes 10-19/%d", len(body))
				}
				if cr := resp.Header.Get("Content-Range"); cr != wantCR {
					t.Errorf("Content-Range %q, want %q", cr, wantCR)
				}
			}
		})
	}

	// A download cut short and resumed from the bytes already held gives the
	// exact artifact.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 12345)
	if _, err := io.ReadFull(resp.Body, part); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(part)))
	req.Header.Set("If-Range", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || resp2.StatusCode != 206 {
		t.Fatalf("resume: status %d, %v", resp2.StatusCode, err)
	}
	if got := sha256.Sum256(append(part, rest...)); got != sum {
		t.Fatal("resumed download does not hash to the artifact's sha256")
	}
}

func TestArtifactAndServeErrors(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"missing file", func() error { _, err := st.AddArtifact("/nonexistent/m.tflite"); return err }, "/nonexistent/m.tflite"},
		{"empty file", func() error { _, err := st.AddArtifact(empty); return err }, "empty file"},
		{"all interfaces without advertise", func() error { _, err := st.Serve("0.0.0.0:0", "", nil); return err }, "--advertise"},
		{"empty host without advertise", func() error { _, err := st.Serve(":0", "", nil); return err }, "--advertise"},
		{"bad advertise", func() error { _, err := st.Serve("127.0.0.1:0", "ftp://x", nil); return err }, "--advertise"},
		{"bad listen", func() error { _, err := st.Serve("nonsense", "", nil); return err }, "--listen"},
	}
	for _, tc := range tests {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	srv, err := st.Serve("0.0.0.0:0", "http://10.0.0.5:8080/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.URL("ab"); got != "http://10.0.0.5:8080/artifacts/ab" {
		t.Errorf("advertised URL %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
