package fleet_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/space"
)

const class = "testphone"

// tinyProtocol keeps real measurements cheap on a shared 2-core machine.
func tinyProtocol() profiler.Protocol {
	return profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MinSecs: 0, MaxSecs: 0.05, RelTol: 0.05, Level: 0.95, MinSampleMicros: 50}
}

// smallKeys is a subset of spnas-fmnist's keys.
func smallKeys(n int) []string {
	ls := space.MustLookup("spnas-fmnist").UniqueKeys()
	var out []string
	for _, l := range ls[len(ls)-n:] {
		out = append(out, l.Key())
	}
	return out
}

// syntheticKeys are distinct key strings for jobs measured by fakeMeasure.
func syntheticKeys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("fc-input:%d-output:10", 16+i)
	}
	return out
}

func spec(keys []string, chunk, replicas int) fleet.RunSpec {
	return fleet.RunSpec{Run: fleet.NewRunID(), Space: "test", Class: class, Keys: keys, Chunk: chunk, Replicas: replicas,
		Threads: 1, Protocol: proto.FromProfiler(tinyProtocol()), Created: time.Now().UTC()}
}

// fakeMeasure returns plausible, key-derived statistics after delay per key:
// a trivial measuring function for the robustness tests and the load test.
func fakeMeasure(delay time.Duration) agent.MeasureFunc {
	return func(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
		out := make([]profiler.LayerResult, 0, len(job.Keys))
		for i, k := range job.Keys {
			if delay > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(delay):
				}
			}
			h := fnv.New32a()
			h.Write([]byte(k))
			us := 50 + float64(h.Sum32()%1000)
			out = append(out, profiler.LayerResult{Key: k, Measurement: profiler.Measurement{
				Stats: profiler.Stats{Count: 6, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us},
				Batch: 1, Conditions: profiler.Conditions{Backend: "fake", Threads: job.Threads, NumCPU: 1}}})
			progress(i+1, len(job.Keys))
		}
		return out, nil
	}
}

// startAgent runs an in-process agent until the returned stop is called
// (or the test ends).
func startAgent(t *testing.T, url, id, dir string, m agent.MeasureFunc) (stop func()) {
	t.Helper()
	_, stop = fleettest.RunAgent(t, agent.Config{Broker: url, ID: id, Class: class, Password: fleettest.AgentPassword,
		DataDir: dir, Backend: "ref", Measure: m, Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond,
		Version: "test", Logger: testLogger()})
	return stop
}

// fakeFleet starts a broker of kind with an in-process agent per id
// (measuring with fakeMeasure(delay)) and opens a store; all state lives in
// the returned dir.
func fakeFleet(t *testing.T, kind string, ids []string, delay time.Duration) (*fleettest.Broker, string, *lut.Store) {
	t.Helper()
	b := fleettest.Start(t, kind, fleettest.Options{Agents: ids})
	dir := t.TempDir()
	for _, id := range ids {
		startAgent(t, b.URL(), id, filepath.Join(dir, id), fakeMeasure(delay))
	}
	return b, dir, openStore(t, dir)
}

func openStore(t *testing.T, dir string) *lut.Store {
	t.Helper()
	st, err := lut.Open(filepath.Join(dir, "lut.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func hostConfig(url string, st *lut.Store, journal string, sp fleet.RunSpec) fleet.Config {
	return fleet.Config{Broker: url, Username: fleettest.Host.Name, Password: fleettest.Host.Password, Spec: sp,
		Store: st, Journal: journal, Lease: 2 * time.Second, Grace: 500 * time.Millisecond, Timeout: 60 * time.Second,
		ToolVersion: "test", Logger: testLogger()}
}

// startHost runs a host in the background; its Run error arrives on the
// returned channel.
func startHost(t *testing.T, ctx context.Context, cfg fleet.Config) <-chan error {
	t.Helper()
	h, err := fleet.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx)
		done <- err
	}()
	return done
}

func runHost(t *testing.T, ctx context.Context, cfg fleet.Config) (fleet.Summary, error) {
	t.Helper()
	h, err := fleet.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h.Run(ctx)
}

// checkExactlyOnce asserts that the store holds one entry per key per
// replica, from distinct devices, and nothing else.
func checkExactlyOnce(t *testing.T, st *lut.Store, sp fleet.RunSpec) {
	t.Helper()
	es, err := st.Entries(lut.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]map[string]int{}
	for _, e := range es {
		if per[e.Key] == nil {
			per[e.Key] = map[string]int{}
		}
		per[e.Key][e.Device]++
	}
	if len(es) != len(sp.Keys)*sp.Replicas {
		t.Errorf("store has %d entries, want %d keys x %d replicas", len(es), len(sp.Keys), sp.Replicas)
	}
	for _, k := range sp.Keys {
		if len(per[k]) != sp.Replicas {
			t.Errorf("key %s measured by %d devices, want %d", k, len(per[k]), sp.Replicas)
		}
		delete(per, k)
	}
	for k := range per {
		t.Errorf("store has key %s that the run did not ask for", k)
	}
}

func entryCount(t *testing.T, st *lut.Store) int {
	es, err := st.Entries(lut.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func fleetList(ctx context.Context, conn proto.ConnConfig) ([]fleet.AgentRow, error) {
	return fleet.List(ctx, conn, "", 300*time.Millisecond, nil)
}

// testLogger shows host logs when EDGENAS_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("EDGENAS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
