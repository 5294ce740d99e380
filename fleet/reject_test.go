package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/profiler"
)

// TestHostRejectsBadMessages: malformed, oversized, wrong-version, spoofed,
// unsolicited and wrong-key results are refused with a logged reason while
// a profile runs; the run completes and the store holds exactly its entries.
func TestHostRejectsBadMessages(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.Start(t, kind, fleettest.Options{Agents: []string{"a1", "a2", "evil"}})
			dir := t.TempDir()
			// Unauthenticated clients never get in.
			if _, err := proto.Connect(context.Background(), proto.ConnConfig{Broker: b.URL(), ClientID: "anon"}); err == nil {
				t.Error("unauthenticated client connected")
			}
			for _, id := range []string{"a1", "a2"} {
				startAgent(t, b.URL(), id, filepath.Join(dir, id), fakeMeasure(60*time.Millisecond))
			}
			st := openStore(t, dir)
			sp := spec(syntheticKeys(20), 2, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			type outcome struct {
				rejected int
				err      error
			}
			done := make(chan outcome, 1)
			go func() {
				sum, err := runHost(t, ctx, hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp))
				done <- outcome{sum.Rejected, err}
			}()
			fleettest.Eventually(t, 20*time.Second, "first entries", func() bool { return entryCount(t, st) >= 2 })
			evil, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: proto.AgentClientID("evil"), Username: "evil", Password: fleettest.AgentPassword})
			if err != nil {
				t.Fatal(err)
			}
			defer evil.Disconnect(0)
			lastJob := fmt.Sprintf("%s.%05d.r0", sp.Run, len(sp.Keys)/sp.Chunk-1)
			stats := profiler.Stats{Count: 6, Min: 1, P10: 1, P50: 1, P90: 1, Max: 1, Mean: 1}
			forged := func(keys ...string) []byte {
				r := &proto.Result{Agent: "evil", Class: class, Job: lastJob, Attempt: 1, Run: sp.Run, Seq: 1, Backend: "fake"}
				for _, k := range keys {
					r.Results = append(r.Results, profiler.LayerResult{Key: k, Measurement: profiler.Measurement{Stats: stats,
						Conditions: profiler.Conditions{Backend: "fake", Threads: 1}}})
				}
				b, _ := proto.Encode(r)
				return b
			}
			own := proto.Topic("evil", proto.KindResult)
			bad := [][]byte{
				[]byte("{not json"),
				[]byte(`{"v":99,"type":"result","agent":"evil"}`),
				bytes.Repeat([]byte("x"), proto.MaxPayload+10),
				forged("fc-input:999-output:10"),                         // a key the job does not have
				forged(sp.Keys[len(sp.Keys)-2], sp.Keys[len(sp.Keys)-1]), // never leased to evil
			}
			for _, p := range bad {
				evil.Publish(own, 1, false, p).WaitTimeout(2 * time.Second)
			}
			// Spoofing another agent's topic: refused by the broker (ACL).
			evil.Publish(proto.Topic("a1", proto.KindResult), 0, false, forged(sp.Keys[0])).WaitTimeout(2 * time.Second)
			out := <-done
			if out.err != nil {
				t.Fatal(out.err)
			}
			// Not JSON, wrong version, wrong key, never leased; the oversized
			// payload is cut off by the broker or refused by the host.
			if out.rejected < 4 {
				t.Errorf("host rejected %d messages, want at least 4", out.rejected)
			}
			checkExactlyOnce(t, st, sp)
			devs, err := st.Devices("")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range devs {
				if d.ID == "evil" {
					t.Error("the evil agent was registered as a device")
				}
			}
		})
	}
}
