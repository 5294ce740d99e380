package rollout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAssignVersion runs deploys in order against one record: the host
// never signs a version for other bytes, even from a fresh state directory.
func TestAssignVersion(t *testing.T) {
	shaA, shaB, shaC := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	path := filepath.Join(t.TempDir(), VersionsFile)
	steps := []struct {
		name    string
		sha     string
		want    uint64 // --version (0: choose)
		floor   uint64 // the state directory's highest version
		got     uint64
		wantErr string
	}{
		{name: "first deploy", sha: shaA, got: 1},
		{name: "same bytes again keep their version", sha: shaA, got: 1},
		{name: "fresh state, other bytes", sha: shaB, got: 2},
		{name: "back to older bytes needs a new version", sha: shaA, got: 3},
		{name: "state ahead of the record", sha: shaC, floor: 7, got: 8},
		{name: "--version reused for other bytes", sha: shaB, want: 8, wantErr: "never reused"},
		{name: "--version below the latest", sha: shaB, want: 5, wantErr: "replay"},
		{name: "--version above the latest", sha: shaB, want: 20, got: 20},
	}
	for _, s := range steps {
		v, err := AssignVersion(path, "m", s.sha, s.want, s.floor)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%s: got %d, %v; want an error with %q", s.name, v, err, s.wantErr)
			}
			continue
		}
		if err != nil || v != s.got {
			t.Fatalf("%s: got %d, %v; want %d", s.name, v, err, s.got)
		}
	}
	if _, err := AssignVersion(path, "m/x", shaA, 0, 0); err == nil {
		t.Error("a name with a slash was accepted")
	}
	if err := os.WriteFile(path, []byte("{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := AssignVersion(path, "m", shaA, 0, 0); err == nil || !strings.Contains(err.Error(), "version record") {
		t.Errorf("corrupt record: %v", err)
	}
}
