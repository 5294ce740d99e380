package fleet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/fleet/fleettest"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/runtime/backends"
	"edgenas/space"
)

// TestFleetMatchesLocal: three agents measuring with the real ref backend
// produce the same LUT keys and count as a local profile of the same keys.
func TestFleetMatchesLocal(t *testing.T) {
	keys := smallKeys(8)
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ids := []string{"a1", "a2", "a3"}
			b := fleettest.Start(t, kind, fleettest.Options{Agents: ids})
			dir := t.TempDir()
			measure, err := agent.ProfilerMeasure("ref")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				startAgent(t, b.URL(), id, filepath.Join(dir, id), measure)
			}
			st := openStore(t, dir)
			sp := spec(keys, 2, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sum, err := runHost(t, ctx, hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp))
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, st, sp)
			if len(sum.Agents) < 2 {
				t.Errorf("work went to %v only; want it split across agents", sum.Agents)
			}
			// The local profile of the same keys.
			local := openStore(t, t.TempDir())
			be, _ := backends.Lookup("ref")
			var layers []space.Layer
			for _, k := range keys {
				l, _ := space.ParseKey(k)
				layers = append(layers, l)
			}
			err = profiler.ProfileLayers(ctx, profiler.LayerJob{Layers: layers, Backend: be, Threads: 1, Protocol: tinyProtocol(),
				Sink: func(rs []profiler.LayerResult) error {
					for _, r := range rs {
						if err := local.Put(lut.FromMeasurement("local", r.Key, r.Measurement, time.Now(), "test")); err != nil {
							return err
						}
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			fleetKeys, localKeys := keysOf(t, st), keysOf(t, local)
			if fmt.Sprint(fleetKeys) != fmt.Sprint(localKeys) {
				t.Errorf("fleet keys %v\nlocal keys %v", fleetKeys, localKeys)
			}
			es, _ := st.Entries(lut.Filter{})
			for _, e := range es {
				// Fewer samples than MinRuns only when the time limit cut the run, which marks it unstable.
				if e.Backend != "ref" || e.Threads != 1 || e.Stats.Count < 1 || (e.Stats.Count < 6 && !e.Unstable) {
					t.Errorf("entry %s: backend %s threads %d count %d unstable %v", e.Key, e.Backend, e.Threads, e.Stats.Count, e.Unstable)
				}
			}
			// One LUT for the class: per-agent entries, class value across them.
			view, short, err := st.ClassView(class, "ref", 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			if view.Len() != len(keys) || len(short) != 0 {
				t.Errorf("class view has %d keys (%d short), want %d", view.Len(), len(short), len(keys))
			}
		})
	}
}

func keysOf(t *testing.T, st *lut.Store) []string {
	es, err := st.Entries(lut.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	sort.Strings(out)
	return out
}

// TestBrokerRestart: the broker dies mid-profile and comes back on the same
// port with no sessions and no retained messages; the run completes with
// every entry exactly once.
func TestBrokerRestart(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ids := []string{"a1", "a2", "a3"}
			b, dir, st := fakeFleet(t, kind, ids, 40*time.Millisecond)
			sp := spec(syntheticKeys(60), 2, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := startHost(t, ctx, hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp))
			fleettest.Eventually(t, 30*time.Second, "a third of the entries", func() bool { return entryCount(t, st) >= 20 })
			b.Stop()
			if n := entryCount(t, st); n >= len(sp.Keys) {
				t.Fatalf("all %d entries were in before the broker stopped", n)
			}
			time.Sleep(700 * time.Millisecond)
			b.Restart()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, st, sp)
		})
	}
}

// TestReplicas: each key measured by two distinct agents; the class view's
// value is their median with a spread.
func TestReplicas(t *testing.T) {
	ids := []string{"a1", "a2", "a3"}
	b, dir, st := fakeFleet(t, fleettest.Embedded, ids, 0)
	sp := spec(syntheticKeys(10), 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := runHost(t, ctx, hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, st, sp)
	view, _, err := st.ClassView(class, "fake", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if view.Len() != 10 {
		t.Errorf("class view has %d keys, want 10", view.Len())
	}
	for k, e := range view.Entries {
		if e.Stats.Count != 2 {
			t.Errorf("%s: class entry from %d devices, want 2", k, e.Stats.Count)
		}
	}
}
