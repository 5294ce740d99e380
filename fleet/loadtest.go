package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/lut"
	"edgenas/profiler"
)

// LoadConfig configures a load test: Agents in-process agents, each a real
// MQTT connection, with a trivial measuring function, against one host.
type LoadConfig struct {
	Broker        string
	HostUser      string
	HostPassword  string
	AgentPassword string
	Agents        int
	// Jobs is the number of one-key jobs (default 10 per agent).
	Jobs int
	// Dir holds the store, journal and agent data dirs.
	Dir      string
	Timeout  time.Duration
	Progress io.Writer
	Logger   *slog.Logger
}

// LoadResult is what a load test measured.
type LoadResult struct {
	Agents        int     `json:"agents"`
	Jobs          int     `json:"jobs"`
	Entries       int     `json:"entries"`
	Lost          int     `json:"lost"`
	Duplicated    int     `json:"duplicated"`
	ConnectSecs   float64 `json:"connect_secs"`
	Seconds       float64 `json:"profile_secs"`
	ResultsPerSec float64 `json:"results_per_sec"`
	P50Millis     float64 `json:"p50_job_to_result_ms"`
	P99Millis     float64 `json:"p99_job_to_result_ms"`
	DupResults    int     `json:"duplicate_results_acked"`
	Reissued      int     `json:"reissued_leases"`
}

// syntheticMeasure answers instantly with key-derived statistics.
func syntheticMeasure(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
	out := make([]profiler.LayerResult, 0, len(job.Keys))
	for _, k := range job.Keys {
		h := fnv.New32a()
		h.Write([]byte(k))
		us := 50 + float64(h.Sum32()%1000)
		out = append(out, profiler.LayerResult{Key: k, Measurement: profiler.Measurement{
			Stats: profiler.Stats{Count: 1, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us}, Batch: 1,
			Conditions: profiler.Conditions{Backend: "synthetic", Threads: job.Threads, NumCPU: 1}}})
	}
	progress(len(job.Keys), len(job.Keys))
	return out, nil
}

// LoadTest runs the load test and checks that every result arrived exactly once.
func LoadTest(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if cfg.Agents < 1 {
		return LoadResult{}, fmt.Errorf("loadtest: agents %d, want >= 1", cfg.Agents)
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = 10 * cfg.Agents
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	res := LoadResult{Agents: cfg.Agents, Jobs: cfg.Jobs}
	st, err := lut.Open(filepath.Join(cfg.Dir, "load.db"))
	if err != nil {
		return res, err
	}
	defer st.Close()
	actx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAgents(); wg.Wait() }()
	t0 := time.Now()
	for i := 0; i < cfg.Agents; i++ {
		id := fmt.Sprintf("load%04d", i)
		a, err := agent.New(agent.Config{Broker: cfg.Broker, ID: id, Class: "load", Password: cfg.AgentPassword,
			DataDir: filepath.Join(cfg.Dir, "agents", id), Measure: syntheticMeasure, Heartbeat: 2 * time.Second,
			Resend: 5 * time.Second, Version: "loadtest", Logger: cfg.Logger,
			Describe: func(context.Context) proto.Info { return proto.Info{OS: "synthetic", Arch: "none"} }})
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(actx) }()
	}
	// Wait until every agent is online before the clock starts.
	lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn := proto.ConnConfig{Broker: cfg.Broker, Username: cfg.HostUser, Password: cfg.HostPassword}
	for {
		rows, err := List(lctx, conn, "load", 500*time.Millisecond, nil)
		if err != nil {
			return res, err
		}
		online := 0
		for _, r := range rows {
			if r.State == proto.StateOnline || r.State == proto.StateBusy {
				online++
			}
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "loadtest: %d/%d agents online\n", online, cfg.Agents)
		}
		if online >= cfg.Agents {
			break
		}
	}
	res.ConnectSecs = time.Since(t0).Seconds()
	keys := make([]string, cfg.Jobs)
	for i := range keys {
		keys[i] = fmt.Sprintf("fc-input:%d-output:10", i+1)
	}
	spec := RunSpec{Run: NewRunID(), Space: "synthetic", Class: "load", Keys: keys, Chunk: 1, Replicas: 1, Threads: 1,
		Protocol: proto.FromProfiler(profiler.DefaultProtocol()), Created: time.Now().UTC()}
	journal := filepath.Join(cfg.Dir, "load.db.jobs")
	os.Remove(journal)
	h, err := NewHost(Config{Broker: cfg.Broker, Username: cfg.HostUser, Password: cfg.HostPassword, Spec: spec,
		Store: st, Journal: journal, Timeout: cfg.Timeout, ToolVersion: "loadtest", Progress: cfg.Progress, Logger: cfg.Logger})
	if err != nil {
		return res, err
	}
	sum, err := h.Run(ctx)
	res.Seconds = sum.Seconds
	res.DupResults, res.Reissued = sum.Dupes, sum.Reissued
	if sum.Seconds > 0 {
		res.ResultsPerSec = float64(sum.Counts.Done) / sum.Seconds
	}
	lat := append([]time.Duration(nil), sum.Latencies...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		res.P50Millis = float64(lat[n/2]) / 1e6
		res.P99Millis = float64(lat[min(n-1, n*99/100)]) / 1e6
	}
	es, eerr := st.Entries(lut.Filter{})
	if eerr != nil {
		return res, eerr
	}
	res.Entries = len(es)
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Key]++
	}
	for _, k := range keys {
		switch n := seen[k]; {
		case n == 0:
			res.Lost++
		case n > 1:
			res.Duplicated += n - 1
		}
	}
	if err != nil {
		return res, err
	}
	if res.Lost > 0 || res.Duplicated > 0 {
		return res, fmt.Errorf("loadtest: %d results lost, %d duplicated", res.Lost, res.Duplicated)
	}
	return res, nil
}
