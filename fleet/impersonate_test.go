package fleet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/internal/pki"
	"edgenas/lut"
	"edgenas/profiler"
)

// TestForgedResultsNeverReachTheLUT profiles over mutual TLS while a
// client holding another device's certificate (a2) floods a1's result
// topic, and its own topic, with 1 us results for a1's jobs, trying a1's
// client id too. Every entry in the table must come from a1's real
// measurements. Both brokers.
func TestForgedResultsNeverReachTheLUT(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.StartTLS(t, kind, fleettest.TLSOptions{})
			dir := t.TempDir()
			a, err := agent.New(agent.Config{Broker: b.URL(), ID: "a1", Class: class, TLS: b.Issue(t, "a1", pki.RoleAgent),
				DataDir: filepath.Join(dir, "a1"), Backend: "ref", Measure: fakeMeasure(20 * time.Millisecond),
				Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond, Version: "test", Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			defer wg.Wait()
			actx, stopAgent := context.WithCancel(ctx)
			defer stopAgent()
			wg.Add(1)
			go func() { defer wg.Done(); a.Run(actx) }()

			sp := spec(syntheticKeys(8), 2, 1)
			a2TLS := b.Issue(t, "a2", pki.RoleAgent)
			attackers := make([]proto.ConnConfig, 0, 2)
			for _, id := range []string{proto.AgentClientID("a2"), proto.AgentClientID("a1")} {
				attackers = append(attackers, proto.ConnConfig{Broker: b.URL(), ClientID: id, TLS: a2TLS})
			}
			forged := func(job int) []byte {
				r := &proto.Result{Agent: "a1", Class: class, Job: fmt.Sprintf("%s.%05d.r0", sp.Run, job), Attempt: 1, Run: sp.Run, Seq: uint64(100 + job), Backend: "fake"}
				for _, k := range sp.Keys[job*2 : job*2+2] {
					r.Results = append(r.Results, profiler.LayerResult{Key: k, Measurement: profiler.Measurement{
						Stats:      profiler.Stats{Count: 6, Min: 1, P10: 1, P50: 1, P90: 1, Max: 1, Mean: 1},
						Conditions: profiler.Conditions{Backend: "fake", Threads: 1}}})
				}
				p, err := proto.Encode(r)
				if err != nil {
					t.Error(err)
				}
				return p
			}
			sent := 0
			attack := func(actx context.Context) {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-actx.Done():
						return
					case <-tick.C:
					}
					for _, cc := range attackers {
						cctx, ccancel := context.WithTimeout(actx, 2*time.Second)
						c, err := proto.Connect(cctx, cc)
						ccancel()
						if err != nil {
							continue // the embedded broker refuses a1's client id
						}
						for job := 0; job < len(sp.Keys)/2; job++ {
							c.Publish(proto.Topic("a2", proto.KindResult), 0, false, forged(job))
							c.Publish(proto.Topic("a1", proto.KindResult), 0, false, forged(job))
							sent += 2
						}
						c.Disconnect(50)
					}
				}
			}
			atkCtx, stopAttack := context.WithCancel(ctx)
			defer stopAttack()
			var atkWG sync.WaitGroup
			defer atkWG.Wait()
			atkWG.Add(1)
			go func() { defer atkWG.Done(); attack(atkCtx) }()

			st := openStore(t, dir)
			cfg := hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp)
			cfg.Username, cfg.Password, cfg.TLS = "", "", b.Issue(t, "host", pki.RoleHost)
			sum, err := runHost(t, ctx, cfg)
			stopAttack()
			if err != nil {
				t.Fatalf("profile: %v\n%s", err, b.Log())
			}
			atkWG.Wait()
			if sent == 0 {
				t.Fatal("the attacker never got a publish out: the test proved nothing")
			}
			checkExactlyOnce(t, st, sp)
			es, err := st.Entries(lut.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Device != "a1" || e.Stats.P50 < 50 {
					t.Errorf("forged entry in the table: %s from %s, p50 %.1f us", e.Key, e.Device, e.Stats.P50)
				}
			}
			t.Logf("%d forged publishes; host rejected %d messages", sent, sum.Rejected)
		})
	}
}
