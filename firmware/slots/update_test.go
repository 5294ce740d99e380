package slots_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/slots"
)

// TestUpdates: a healthy agent is committed; one that exits at start and
// one that never connects are rolled back, and the old agent reports why.
func TestUpdates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs agents")
	}
	r := newRig(t)
	_, bin := agentBinary(t)
	r.supervise(4 * time.Second)
	marker := filepath.Join(r.data, slots.AgentDir, "identity-marker")

	r.deploy(2, r.bundle(2, bin))
	r.wait(2, proto.InstallCommitted, 60*time.Second)
	if st := r.state(); st.Active != slots.SlotB || st.Version != 2 || st.Previous != slots.SlotA {
		t.Fatalf("after a healthy update: %+v", st)
	}
	if err := os.WriteFile(marker, []byte("fw1"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		version uint64
		binary  string
		reason  string
	}{
		{"exits at start", 3, "#!/bin/sh\nexit 3\n", "exited before reporting healthy"},
		{"never connects", 4, "#!/bin/sh\nexec sleep 600\n", "did not connect and report healthy within 4s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.t = t
			r.deploy(c.version, r.bundle(c.version, []byte(c.binary)))
			in := r.wait(c.version, proto.InstallRolledBack, 60*time.Second)
			if !strings.Contains(in.Reason, c.reason) {
				t.Fatalf("rolled back with reason %q, want %q", in.Reason, c.reason)
			}
			st := r.state()
			if st.Active != slots.SlotB || st.Version != 2 || st.Trial == nil || st.Trial.Outcome != slots.OutcomeRolledBack {
				t.Fatalf("after a failed update: %+v", st)
			}
			if b, err := os.ReadFile(marker); err != nil || string(b) != "fw1" {
				t.Fatalf("agent data did not survive: %q %v", b, err)
			}
		})
	}
}
