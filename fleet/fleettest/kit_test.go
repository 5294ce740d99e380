package fleettest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestArtifactsCutThenResume: a cut request delivers half the artifact and
// hangs; a resumed request gets the rest from the host's handler, and both
// Range headers are recorded.
func TestArtifactsCutThenResume(t *testing.T) {
	arts := ServeArtifacts(t)
	body := bytes.Repeat([]byte("0123456789"), 100)
	a := arts.Add(t, body)
	arts.CutNext(a.SHA256)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, arts.URL(a.SHA256), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	half := make([]byte, len(body)/2)
	if _, err := io.ReadFull(resp.Body, half); err != nil || resp.ContentLength != int64(len(body)) {
		t.Fatalf("cut response: %v, length %d", err, resp.ContentLength)
	}
	more := make(chan error, 1)
	go func() { _, err := resp.Body.Read(make([]byte, 1)); more <- err }()
	select {
	case err := <-more:
		t.Fatalf("the cut response went on past half: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	resp.Body.Close()

	req, _ = http.NewRequest(http.MethodGet, arts.URL(a.SHA256), nil)
	req.Header.Set("Range", "bytes="+strconv.Itoa(len(half))+"-")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(append(half, rest...), body) {
		t.Fatalf("resumed request: status %d, %v, %d bytes", resp.StatusCode, err, len(rest))
	}
	if got := arts.Ranges(a.SHA256); len(got) != 2 || got[0] != "" || got[1] != "bytes=500-" {
		t.Errorf("Ranges = %q", got)
	}
}

func TestWrongTop1(t *testing.T) {
	tests := []struct {
		name     string
		expected []byte
		top      int
	}{
		{name: "top in the middle", expected: []byte{1, 2, 120, 3}, top: 3},
		{name: "top last wraps", expected: []byte{1, 2, 3, 0x7f}, top: 0},
		{name: "negative scores", expected: []byte{0x80, 0xff, 0xfe}, top: 2},
	}
	for _, tc := range tests {
		got := WrongTop1(tc.expected)
		top := 0
		for i := range got {
			if int8(got[i]) > int8(got[top]) {
				top = i
			}
		}
		if top != tc.top {
			t.Errorf("%s: WrongTop1(%v) = %v, top-1 %d, want %d", tc.name, tc.expected, got, top, tc.top)
		}
	}
}
