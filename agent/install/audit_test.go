package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/agent/proto"
)

// TestAuditAtStart damages installed versions while the manager is down and
// checks what the next start reports and where current falls back to.
func TestAuditAtStart(t *testing.T) {
	flip := func(t *testing.T, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 2; i < len(b)/2+200 && i < len(b); i++ {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		damage   func(t *testing.T, models string)
		wantFile string
		wantCur  uint64
		wantWhy  string
	}{
		{name: "current flipped: previous intact", damage: func(t *testing.T, d string) { flip(t, filepath.Join(d, "m", "2", ModelFile)) },
			wantFile: "models/m/2/model.tflite", wantCur: 1, wantWhy: "has sha256"},
		{name: "both flipped: nothing current", damage: func(t *testing.T, d string) {
			flip(t, filepath.Join(d, "m", "2", ModelFile))
			flip(t, filepath.Join(d, "m", "1", ModelFile))
		}, wantFile: "models/m/2/model.tflite", wantCur: 0, wantWhy: "has sha256"},
		{name: "current deleted", damage: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "m", "2", ModelFile)) },
			wantFile: "models/m/2/model.tflite", wantCur: 1, wantWhy: "is missing"},
		{name: "manifest deleted", damage: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "m", "2", ManifestFile)) },
			wantFile: "models/m/2/manifest.sig", wantCur: 1, wantWhy: "unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			body1, exp1 := testModel(t, "fc-input:16-output:10")
			body2, exp2 := testModel(t, "fc-input:32-output:10")
			a := f.start(f.pub, nil)
			a.deploy("r1", f.sign(f.serve("m", 1, body1, exp1)))
			a.final(t, 1)
			a.deploy("r2", f.sign(f.serve("m", 2, body2, exp2)))
			if r := a.final(t, 2); r.State != proto.InstallCommitted {
				t.Fatalf("v2: %+v", r)
			}
			a.stop()
			tc.damage(t, a.models.Root())

			b := f.start(f.pub, nil)
			r := b.final(t, 1)
			if r.State != proto.InstallTampered || r.Rollout != "r2" || r.Version != 2 || r.File != filepath.FromSlash(tc.wantFile) ||
				!strings.Contains(r.Reason, tc.wantWhy) {
				t.Fatalf("report %+v, want tampered r2 v2 %s (%s)", r, tc.wantFile, tc.wantWhy)
			}
			if cur, err := b.models.Committed("m"); err != nil || cur != tc.wantCur {
				t.Fatalf("current %d (%v), want %d", cur, err, tc.wantCur)
			}
			if _, err := os.Stat(filepath.Join(b.models.Root(), "m", ".2.tampered")); err != nil {
				t.Fatalf("damaged version not set aside: %v", err)
			}
			// A new version heals the device; only the newest damaged
			// version is kept aside.
			b.deploy("r3", f.sign(f.serve("m", 3, body1, exp1)))
			if r := b.final(t, 2); r.State != proto.InstallCommitted {
				t.Fatalf("v3 after tampering: %+v", r)
			}
			mustCheck(t, b.models, "m", 3)
		})
	}
}

// TestPruneTampered keeps the newest set-aside version only.
func TestPruneTampered(t *testing.T) {
	s, err := NewModels(ModelsConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{".2.tampered", ".10.tampered", ".7.tampered", "3"} {
		if err := os.MkdirAll(filepath.Join(s.dir("m"), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.pruneTampered("m")
	got, _ := filepath.Glob(filepath.Join(s.dir("m"), ".*"))
	if len(got) != 1 || filepath.Base(got[0]) != ".10.tampered" {
		t.Fatalf("left %v, want only .10.tampered", got)
	}
}
