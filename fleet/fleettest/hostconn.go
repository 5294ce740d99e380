package fleettest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
)

// HostConn is the host's MQTT connection in a deploy test: it publishes
// deploys and collects every install report of every agent. It reconnects
// and subscribes again after the broker restarts (install reports are not
// retained: a host that is away misses them, so a test waits for
// WaitSubscribed before letting agents report).
type HostConn struct {
	t    testing.TB
	c    paho.Client
	subs chan struct{} // one per (re)subscription

	mu      sync.Mutex
	reports []proto.Install
}

// ConnectHost connects to b as the host account, subscribes to install
// reports and disconnects when the test ends.
func ConnectHost(t testing.TB, b *Broker) *HostConn {
	t.Helper()
	h := &HostConn{t: t, subs: make(chan struct{}, 8)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: "test-host",
		Username: Host.Name, Password: Host.Password, Retry: true,
		OnConnect: func(c paho.Client) {
			if err := proto.Subscribe(c, h.onInstall, proto.Filter(proto.KindInstall)); err != nil {
				t.Errorf("host subscribe: %v", err)
				return
			}
			select {
			case h.subs <- struct{}{}:
			default: // nobody waits for that many: never block paho
			}
		}})
	if err != nil {
		t.Fatalf("host connect: %v", err)
	}
	h.c = c
	t.Cleanup(func() { c.Disconnect(100) })
	h.WaitSubscribed(t)
	return h
}

// WaitSubscribed waits for the host's next (re)subscription.
func (h *HostConn) WaitSubscribed(t testing.TB) {
	t.Helper()
	select {
	case <-h.subs:
	case <-time.After(15 * time.Second):
		t.Fatal("host did not (re)subscribe to install reports within 15s")
	}
}

func (h *HostConn) onInstall(_ paho.Client, m paho.Message) {
	msg, err := proto.Decode(m.Topic(), m.Payload())
	if err != nil {
		h.t.Errorf("host got an invalid install report: %v", err)
		return
	}
	h.mu.Lock()
	h.reports = append(h.reports, *msg.(*proto.Install))
	h.mu.Unlock()
}

// Deploy publishes d retained on agent's deploy topic, as the host does.
func (h *HostConn) Deploy(t testing.TB, agent string, d *proto.Deploy) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := proto.Publish(ctx, h.c, proto.Topic(agent, proto.KindDeploy), true, d); err != nil {
		t.Fatalf("publish deploy %s to %s: %v", d.Rollout, agent, err)
	}
}

// WaitState waits for an install report of rollout in state and returns
// the first one; the failure lists what the host saw of the rollout.
func (h *HostConn) WaitState(t testing.TB, rollout, state string, within time.Duration) proto.Install {
	t.Helper()
	var got proto.Install
	found := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.reports {
			if r.Rollout == rollout && r.State == state {
				got = r
				return true
			}
		}
		return false
	}
	if !poll(within, found) {
		t.Fatalf("no %s report for %s within %v; reports: %q", state, rollout, within, h.Seen(rollout))
	}
	return got
}

// Seen lists the states the host saw rollout pass through, in order (a
// state repeated in a row once), with the reason where there is one.
func (h *HostConn) Seen(rollout string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for _, r := range h.reports {
		if r.Rollout != rollout {
			continue
		}
		x := r.State
		if r.Reason != "" {
			x = fmt.Sprintf("%s (%s)", r.State, r.Reason)
		}
		if len(s) == 0 || s[len(s)-1] != x {
			s = append(s, x)
		}
	}
	return s
}
