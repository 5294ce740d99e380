package rollout_test

import (
	"context"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/pki"
)

// TestForgedInstallReportsRefused: a client holding a2's certificate
// reports "committed" for a1 (offline: it never connects), on a1's install
// topic and on its own, also trying a1's client id. No report reaches the
// rollout engine; a2's own honest report does. Both brokers, mutual TLS.
func TestForgedInstallReportsRefused(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.StartTLS(t, kind, fleettest.TLSOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := rollout.Dial(ctx, proto.ConnConfig{Broker: b.URL(), TLS: b.Issue(t, "host", pki.RoleHost)}, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, b.Log())
			}
			defer c.Close()
			a2TLS := b.Issue(t, "a2", pki.RoleAgent)
			committed := func(agent string) *proto.Install {
				return &proto.Install{Agent: agent, Rollout: "r1", Kind: "model", Name: "m", Version: 1, State: proto.InstallCommitted, LatencyMS: 1, Time: time.Now()}
			}
			for _, clientID := range []string{proto.AgentClientID("a1"), proto.AgentClientID("a2")} {
				atk, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: clientID, TLS: a2TLS})
				if err != nil {
					continue // the embedded broker refuses a1's client id to a2
				}
				// Own topic first: the embedded broker disconnects a client whose publish the ACL denies.
				_ = proto.Publish(ctx, atk, proto.Topic("a2", proto.KindInstall), false, committed("a1"))
				tctx, tcancel := context.WithTimeout(ctx, time.Second)
				_ = proto.Publish(tctx, atk, proto.Topic("a1", proto.KindInstall), false, committed("a1"))
				tcancel()
				atk.Disconnect(50)
			}
			honest, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: proto.AgentClientID("a2"), TLS: a2TLS})
			if err != nil {
				t.Fatal(err)
			}
			defer honest.Disconnect(50)
			if err := proto.Publish(ctx, honest, proto.Topic("a2", proto.KindInstall), false, committed("a2")); err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case m := <-c.Reports():
					if m.Agent != "a2" {
						t.Fatalf("a forged report for %s reached the rollout engine", m.Agent)
					}
					if c.Rejected() == 0 {
						t.Fatal("the report from a2 naming a1 was not counted as refused")
					}
					return
				case <-ctx.Done():
					t.Fatal("a2's own report never arrived")
				}
			}
		})
	}
}
