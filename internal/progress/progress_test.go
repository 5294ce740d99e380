package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBarLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "profile", 4)
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(2 * time.Second)
	b.Add(1, "k3e3")
	clock = clock.Add(100 * time.Millisecond) // within the interval: suppressed
	b.Add(1, "")
	clock = clock.Add(2 * time.Second)
	b.Add(2, "last")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q, want 2 (first and last)", lines)
	}
	if !strings.Contains(lines[0], "profile: 1/4 (25%), 0.50/s, ETA 6s") || !strings.Contains(lines[0], "| k3e3") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "4/4 (100%)") || strings.Contains(lines[1], "ETA") {
		t.Errorf("last line %q", lines[1])
	}
}
