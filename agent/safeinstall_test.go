package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
)

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// flipBytes inverts n bytes of a file in place (same inode), from the middle.
func flipBytes(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	off := fi.Size()/2 - int64(n)/2
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] ^= 0xff
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
}

// TestSameVersionOtherBytesRefused: a deploy naming other bytes under the
// version a real agent process has committed is refused with the reason,
// and the disk keeps the committed model.
func TestSameVersionOtherBytesRefused(t *testing.T) {
	r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
	dir := t.TempDir()
	a := startAgent(t, r, dir, "", "")
	body1 := fleettest.LayerModel(t, "fc-input:16-output:10")
	body2 := fleettest.LayerModel(t, "fc-input:32-output:10")
	r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, body1), modelOptions(1), nil)
	first := r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)

	r.DeployModel(t, "dev1", "r2", r.Artifacts.Add(t, body2), modelOptions(1), nil)
	got := r.Host.WaitState(t, "r2", proto.InstallRefused, 20*time.Second)
	if !strings.Contains(got.Reason, "never reused") || !strings.Contains(got.Reason, sha256Hex(body1)) {
		t.Fatalf("refusal reason %q", got.Reason)
	}
	if seen := r.Host.Seen("r2"); len(seen) != 1 {
		t.Fatalf("host saw %q for r2, want only the refusal (no committed with the old latency %g)", seen, first.LatencyMS)
	}
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	checkStore(t, dir, 1)
	b, err := os.ReadFile(filepath.Join(dir, "models", "m", "1", install.ModelFile))
	if err != nil || sha256Hex(b) != sha256Hex(body1) {
		t.Fatalf("installed model changed: %v", err)
	}
}

// TestTamperedModelReportedAtStart flips 200 bytes of a committed model
// while a real agent process is down: at start it reports tampered (file,
// expected and actual sha256), sets the version aside and falls back to the
// intact previous one; the re-delivered deploy is answered the same way,
// and a new version installs.
func TestTamperedModelReportedAtStart(t *testing.T) {
	r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
	dir := t.TempDir()
	a := startAgent(t, r, dir, "", "")
	r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10")), modelOptions(1), nil)
	r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)
	body2 := fleettest.LayerModel(t, "fc-input:32-output:10")
	r.DeployModel(t, "dev1", "r2", r.Artifacts.Add(t, body2), modelOptions(2), nil)
	r.Host.WaitState(t, "r2", proto.InstallCommitted, 20*time.Second)
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v", err)
	}

	model := filepath.Join(dir, "models", "m", "2", install.ModelFile)
	flipBytes(t, model, 200)
	flipped, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	a = startAgent(t, r, dir, "", "")
	got := r.Host.WaitState(t, "r2", proto.InstallTampered, 20*time.Second)
	want := proto.Install{File: filepath.Join("models", "m", "2", install.ModelFile), ExpectedSHA256: sha256Hex(body2), ActualSHA256: sha256Hex(flipped)}
	if got.File != want.File || got.ExpectedSHA256 != want.ExpectedSHA256 || got.ActualSHA256 != want.ActualSHA256 || got.Version != 2 {
		t.Fatalf("tampered report %+v, want file %s expected %s actual %s", got, want.File, want.ExpectedSHA256, want.ActualSHA256)
	}
	for _, s := range r.Host.Seen("r2") {
		if strings.HasPrefix(s, proto.InstallReceived) && s != proto.InstallReceived {
			t.Fatalf("the tampered version was installed again from the retained deploy: %q", r.Host.Seen("r2"))
		}
	}
	r.DeployModel(t, "dev1", "r3", r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:64-output:10")), modelOptions(3), nil)
	r.Host.WaitState(t, "r3", proto.InstallCommitted, 20*time.Second)
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	checkStore(t, dir, 3)
	if _, err := os.Stat(filepath.Join(dir, "models", "m", ".2.tampered", install.ModelFile)); err != nil {
		t.Errorf("the tampered version was not kept aside: %v", err)
	}
}

// TestTamperedBeforeHealthCheck changes the model's bytes between download
// verification and the health check: the agent re-hashes before running
// it, reports tampered and keeps the previous version.
func TestTamperedBeforeHealthCheck(t *testing.T) {
	r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
	dir := t.TempDir()
	stop := runAgent(t, r, dir, func(point string) {
		if point == proto.InstallInstalling {
			// The verified file sits in staging; it is renamed into place next.
			if ms, _ := filepath.Glob(filepath.Join(dir, "models", "m", ".2.staging", install.ModelFile)); len(ms) == 1 {
				flipBytes(t, ms[0], 200)
			}
		}
	})
	r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10")), modelOptions(1), nil)
	r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)
	body2 := fleettest.LayerModel(t, "fc-input:32-output:10")
	r.DeployModel(t, "dev1", "r2", r.Artifacts.Add(t, body2), modelOptions(2), nil)
	got := r.Host.WaitState(t, "r2", proto.InstallTampered, 20*time.Second)
	if !strings.Contains(got.Reason, "before the health check") || got.ExpectedSHA256 != sha256Hex(body2) || got.ActualSHA256 == got.ExpectedSHA256 {
		t.Fatalf("tampered report %+v", got)
	}
	fleettest.Eventually(t, 10*time.Second, "the outbox to drain", func() bool {
		ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json"))
		return len(ps) == 0
	})
	stop()
	checkStore(t, dir, 1)
}
