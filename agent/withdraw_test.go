package agent_test

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

// TestWithdrawCancelsWaitingInstall: a real agent process waits on an
// artifact nobody serves. When the host clears the retained deploy, or
// replaces it with a newer version of the same model, the waiting install
// is reported cancelled (with why) and the next deploy installs at once
// instead of queueing behind it forever.
func TestWithdrawCancelsWaitingInstall(t *testing.T) {
	r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
	dir := t.TempDir()
	a := startAgent(t, r, dir, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := rollout.Dial(ctx, proto.ConnConfig{Broker: r.Broker.URL(), ClientID: "test-withdraw", Username: fleettest.Host.Name,
		Password: fleettest.Host.Password}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An address that refuses connections: the artifact is unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	art := r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10"))
	deploy := func(id string, version uint64, base string) {
		t.Helper()
		o := modelOptions(version)
		o.URL = r.Artifacts.URL(art.SHA256)
		if base != "" {
			o.URL = base + "/artifacts/" + art.SHA256
		}
		r.Host.Deploy(t, "dev1", r.Key.ModelDeploy(t, id, art, o, nil))
	}

	cases := []struct {
		name string
		// waitID, version waiting are the deploy left waiting; replace
		// withdraws or replaces it; then nextID must install, deployed by
		// replace or, with next > 0, afterwards as version next.
		waitID  string
		waiting uint64
		replace func(t *testing.T)
		nextID  string
		next    uint64
		reason  string
	}{
		{name: "cleared by the host", waitID: "wait-1", waiting: 1, nextID: "next-1", next: 1, reason: "the host cleared it",
			replace: func(t *testing.T) {
				if err := conn.Withdraw(ctx, "dev1"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "replaced by a newer version", waitID: "wait-2", waiting: 2, nextID: "next-3", reason: "replaced by version 3",
			replace: func(t *testing.T) { deploy("next-3", 3, "") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			deploy(c.waitID, c.waiting, dead)
			r.Host.WaitState(t, c.waitID, proto.InstallDownloading, 20*time.Second)
			start := time.Now()
			c.replace(t)
			got := r.Host.WaitState(t, c.waitID, proto.InstallCancelled, 20*time.Second)
			if !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("cancelled with reason %q, want %q", got.Reason, c.reason)
			}
			if c.next > 0 {
				deploy(c.nextID, c.next, "")
			}
			r.Host.WaitState(t, c.nextID, proto.InstallCommitted, 20*time.Second)
			t.Logf("cancelled and next committed %v after the withdrawal; host saw %v", time.Since(start).Round(time.Millisecond), r.Host.Seen(c.waitID))
		})
	}
	if err := a.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	checkStore(t, dir, 3)
}
