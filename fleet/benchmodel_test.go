package fleet_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
	"edgenas/internal/refdata"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/profiler/benchmodel/replaytest"
	"edgenas/space"
)

// TestFleetBenchmarkModel: an agent whose backend is TFLite's benchmark_model
// with the NNAPI delegate completes a fleet profile, and the class table it
// fills is marked with the delegate and its partial delegation; an agent
// whose NNAPI run fails fails the job with an error naming NNAPI, and nothing
// enters the table. The tool is a replay of recorded Pixel 6 transcripts,
// not the real benchmark_model (none can run here). Self-contained: it uses
// only the broker from fleettest.
func TestFleetBenchmarkModel(t *testing.T) {
	const class = "pixel6"
	tests := []struct {
		name       string
		transcript string
		wantErr    string
	}{
		{name: "partial delegation", transcript: "03-nnapi-pixel6-edgetpu-partial-efficientnet-lite0-int8.txt"},
		{name: "failed delegation", transcript: "07-nnapi-pixel6-failed-efficientdet-lite0-int8.txt",
			wantErr: "NNAPI delegate: NN API returned error ANEURALNETWORKS_OP_FAILED"},
	}
	kit := replaytest.New(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := refdata.Path(t, filepath.Join("benchmark_model", tc.transcript))
			bin, calls := kit.Install(t, replaytest.Replay{Transcript: tr,
				Require: map[string]string{"use_nnapi": "true", "nnapi_accelerator_name": "google-edgetpu", "num_threads": "1"}})
			b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: []string{"phone1"}})
			dir := t.TempDir()
			a, err := agent.New(agent.Config{Broker: b.URL(), ID: "phone1", Class: class, Password: fleettest.AgentPassword,
				DataDir: filepath.Join(dir, "phone1"), Backend: "ref", Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond,
				Version: "test", BenchmarkModel: &benchmodel.Options{Binary: bin, Delegate: benchmodel.DelegateNNAPI, NNAPIAccelerator: "google-edgetpu"}})
			if err != nil {
				t.Fatal(err)
			}
			if a.Backend() != "benchmark-model-nnapi" {
				t.Errorf("agent reports backend %s", a.Backend())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); a.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()

			st, err := lut.Open(filepath.Join(dir, "lut.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var keys []string
			for _, l := range space.MustLookup("spnas-fmnist").UniqueKeys()[:4] {
				keys = append(keys, l.Key())
			}
			p := profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MaxSecs: 1, RelTol: 0.05, Level: 0.95}
			sp := fleet.RunSpec{Run: fleet.NewRunID(), Space: "spnas-fmnist", Class: class, Keys: keys, Chunk: 2, Replicas: 1,
				Threads: 1, Protocol: proto.FromProfiler(p), Created: time.Now().UTC()}
			h, err := fleet.NewHost(fleet.Config{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password,
				Spec: sp, Store: st, Journal: filepath.Join(dir, "lut.db.jobs"), Lease: 5 * time.Second, Grace: 500 * time.Millisecond,
				Timeout: 50 * time.Second, ToolVersion: "test"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Run(ctx)
			es, eerr := st.Entries(lut.Filter{})
			if eerr != nil {
				t.Fatal(eerr)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("fleet profile error %v, want %q", err, tc.wantErr)
				}
				if len(es) != 0 {
					t.Errorf("%d entries stored from failed runs", len(es))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != len(keys) || len(calls()) < len(keys) {
				t.Fatalf("%d entries from %d tool runs, want %d", len(es), len(calls()), len(keys))
			}
			for _, e := range es {
				d := e.Conditions.Delegate
				if e.Backend != "benchmark-model-nnapi" || e.Device != "phone1" || d == nil || d.Mode != "partial" ||
					d.Nodes != 62 || d.TotalNodes != 64 || d.Partitions != 3 || d.Options["nnapi_accelerator_name"] != "google-edgetpu" {
					t.Errorf("entry %s: backend %s device %s delegate %+v", e.Key, e.Backend, e.Device, d)
				}
			}
			view, short, err := st.ClassView(class, "benchmark-model-nnapi", 1, 1)
			if err != nil || view.Len() != len(keys) || len(short) != 0 {
				t.Errorf("class view: %v, %d keys, %d short", err, view.Len(), len(short))
			}
		})
	}
}

// TestBenchBenchmarkModel: an agent that measures with benchmark_model times
// a bench's models with it: one tool run per model, on the model file the
// agent fetched and verified, and the timing carries the delegate.
func TestBenchBenchmarkModel(t *testing.T) {
	kit := replaytest.New(t)
	tr := refdata.Path(t, filepath.Join("benchmark_model", "03-nnapi-pixel6-edgetpu-partial-efficientnet-lite0-int8.txt"))
	bin, calls := kit.Install(t, replaytest.Replay{Transcript: tr, Require: map[string]string{"use_nnapi": "true", "num_threads": "1"}})
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: "phone1", Class: class, Password: fleettest.AgentPassword,
		DataDir: filepath.Join(dir, "phone1"), Backend: "ref", Heartbeat: 200 * time.Millisecond, Resend: 500 * time.Millisecond,
		Version: "test", BenchmarkModel: &benchmodel.Options{Binary: bin, Delegate: benchmodel.DelegateNNAPI}})
	set, _ := modelSet(t, smallKeys(2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := benchConfig(b.URL(), dir, 1)
	cfg.Protocol = profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MaxSecs: 1, RelTol: 0.05, Level: 0.95}
	rep, err := fleet.Bench(ctx, cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(calls()); n < 2 {
		t.Errorf("%d benchmark_model runs for 2 models", n)
	}
	for _, c := range calls() {
		if !strings.Contains(strings.Join(c.Args, " "), filepath.Join(dir, "phone1", "modelcache")) {
			t.Errorf("benchmark_model ran %v, not a model of the agent's cache", c.Args)
		}
	}
	for _, m := range rep.Models {
		if len(m.Devices) != 1 {
			t.Fatalf("model %s: %d timings", m.Name, len(m.Devices))
		}
		c := m.Devices[0].Conditions
		if c.Backend != "benchmark-model-nnapi" || c.Delegate == nil || c.Delegate.Mode != "partial" || !(m.ClassMs > 0) {
			t.Errorf("model %s: %.3f ms, conditions %+v", m.Name, m.ClassMs, c)
		}
	}
}
