package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
)

func TestDevicesTracker(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		msgs      []any
		wantState string
		wantModel string
		wantSeen  time.Time
		wantHist  int
	}{
		{name: "info then online", msgs: []any{&proto.Info{Agent: "a", Class: "pi4", Time: t0},
			&proto.Status{Agent: "a", State: proto.StateOnline, Time: t0.Add(time.Second)}},
			wantState: proto.StateOnline, wantSeen: t0.Add(time.Second), wantHist: 1},
		{name: "heartbeats do not grow the history", msgs: []any{&proto.Status{Agent: "a", State: proto.StateOnline, Time: t0},
			&proto.Status{Agent: "a", State: proto.StateOnline, Time: t0.Add(time.Second)},
			&proto.Status{Agent: "a", State: proto.StateOffline, Time: t0.Add(2 * time.Second)}},
			wantState: proto.StateOffline, wantSeen: t0.Add(2 * time.Second), wantHist: 2},
		{name: "an old retained message does not move last seen back", msgs: []any{
			&proto.Status{Agent: "a", State: proto.StateOnline, Time: t0.Add(time.Minute)}, &proto.Info{Agent: "a", Time: t0}},
			wantState: proto.StateOnline, wantSeen: t0.Add(time.Minute), wantHist: 1},
		{name: "only a commit installs a model", msgs: []any{
			&proto.Install{Agent: "a", Name: "m", Version: 1, State: proto.InstallCommitted, Time: t0},
			&proto.Install{Agent: "a", Name: "m", Version: 2, State: proto.InstallRolledBack, Reason: "x", Time: t0}},
			wantModel: "m v1", wantSeen: t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDevices()
			for _, m := range tc.msgs {
				d.Observe(m, t0)
			}
			got, ok := d.Get("a")
			if !ok {
				t.Fatal("device a not tracked")
			}
			model := ""
			if got.Model != "" {
				model = fmt.Sprintf("%s v%d", got.Model, got.Version)
			}
			if got.State != tc.wantState || model != tc.wantModel || !got.LastSeen.Equal(tc.wantSeen) || len(got.History) != tc.wantHist {
				t.Errorf("state %q model %q seen %v history %d; want %q %q %v %d", got.State, model, got.LastSeen, len(got.History),
					tc.wantState, tc.wantModel, tc.wantSeen, tc.wantHist)
			}
		})
	}
}

// TestDevicesBounded: ids from the broker cannot grow the tracker past its
// limit; the ones dropped are counted.
func TestDevicesBounded(t *testing.T) {
	d := NewDevices()
	now := time.Now()
	for i := range maxDevices + 5 {
		d.Observe(&proto.Status{Agent: fmt.Sprintf("d%d", i), State: proto.StateOnline}, now)
	}
	if n := len(d.List()); n != maxDevices {
		t.Errorf("tracked %d devices, want %d", n, maxDevices)
	}
	if d.Dropped() != 5 {
		t.Errorf("dropped %d, want 5", d.Dropped())
	}
	d2 := NewDevices()
	for i := range maxHistory + 10 {
		st := []string{proto.StateOnline, proto.StateBusy}[i%2]
		d2.Observe(&proto.Status{Agent: "x", State: st, Time: now.Add(time.Duration(i) * time.Second)}, now)
	}
	if got, _ := d2.Get("x"); len(got.History) != maxHistory {
		t.Errorf("history %d, want %d", len(got.History), maxHistory)
	}
}

// FuzzSafeNext: whatever a login form names as the next page, the redirect
// stays on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/rollouts/x", "//evil.example/", `/\evil`, "https://evil.example", "", "javascript:alert(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Errorf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}
