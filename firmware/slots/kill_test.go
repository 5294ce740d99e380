package slots_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/slots"
	"edgenas/fleet/fleettest"
)

// TestSIGKILLDuringUpdate kills the supervisor and its agent (SIGKILL) at
// each stage of an update, starts it again, and checks that the update
// still ends on a working slot, committed, with the agent's data intact and
// the host told the same thing.
func TestSIGKILLDuringUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs agents")
	}
	_, bin := agentBinary(t)
	cases := []struct {
		name string
		// at blocks until the moment to kill.
		at func(r *rig)
	}{
		{"downloading", func(r *rig) { r.wait(2, proto.InstallDownloading, 60*time.Second) }},
		{"staged", func(r *rig) { r.wait(2, proto.InstallChecking, 60*time.Second) }},
		{"on trial", func(r *rig) {
			fleettest.Eventually(t, 60*time.Second, "the update to go on trial", func() bool { st := r.state(); return st.Trial != nil && st.Trial.Outcome == "" })
		}},
		{"marked good", func(r *rig) {
			fleettest.Eventually(t, 60*time.Second, "the new agent to be marked good", func() bool { _, err := os.Stat(filepath.Join(r.data, slots.Dir, "good")); return err == nil })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			marker := filepath.Join(r.data, slots.AgentDir, "identity-marker")
			if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(marker, []byte("fw1"), 0o600); err != nil {
				t.Fatal(err)
			}
			sup := r.supervise(20 * time.Second)
			r.deploy(2, r.bundle(2, bin))
			c.at(r)
			sigkill(sup)
			r.supervise(20 * time.Second)
			in := r.wait(2, proto.InstallCommitted, 90*time.Second)
			st := r.state()
			if st.Active != slots.SlotB || st.Version != in.Version {
				t.Fatalf("host saw %s v%d, device state %+v", in.State, in.Version, st)
			}
			if b, err := os.ReadFile(marker); err != nil || string(b) != "fw1" {
				t.Fatalf("agent data did not survive: %q %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(r.data, slots.Dir, "current", "bin", "edgenas")); err != nil {
				t.Fatalf("current slot: %v", err)
			}
		})
	}
}
