package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOperatorAbort: a reason on Options.Abort aborts a rollout whose
// canary stalls; the rest are skipped and never sent the deploy.
func TestOperatorAbort(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeFleet(map[string]behaviour{"dev00": stalls})
	r := testRollout(agentsOf(3), 1, 50, time.Second)
	abort := make(chan string, 1)
	abort <- "wrong model"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Run(ctx, st, r, f, Options{Tick: 20 * time.Millisecond, Logger: discardLogger(), Abort: abort})
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want ErrAborted", err)
	}
	if r.Phase != PhaseAborted || !strings.Contains(r.Reason, "aborted by operator: wrong model") {
		t.Fatalf("phase %s reason %q", r.Phase, r.Reason)
	}
	if got := f.sent(); len(got) != 1 || got[0] != "dev00" {
		t.Fatalf("sent to %v, want only the canary dev00", got)
	}
	for _, d := range r.Devices[1:] {
		if d.State != DeviceSkipped {
			t.Errorf("%s is %s, want skipped", d.Agent, d.State)
		}
	}
	saved, err := st.Load(r.ID)
	if err != nil || saved.Phase != PhaseAborted {
		t.Fatalf("saved phase %v, err %v", saved, err)
	}
}
