package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/space"
)

func TestStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st, _, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	job := &proto.Job{ID: "r1.00001.r0", Attempt: 2, Run: "r1", Keys: []string{"k"}, Threads: 1, Sent: time.Now()}
	if err := st.saveJob(job); err != nil {
		t.Fatal(err)
	}
	seq, _ := st.nextSeq()
	if _, err := st.putResult(&proto.Result{Agent: "a", Job: "r1.00000.r0", Attempt: 1, Run: "r1", Seq: seq, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "outbox", "junk.json"), []byte("{torn"), 0o644)
	st2, warnings, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "junk.json") {
		t.Errorf("warnings %v, want one about junk.json", warnings)
	}
	jobs, _, err := st2.loadJobs()
	if err != nil || len(jobs) != 1 || jobs[0].ID != job.ID || jobs[0].Attempt != 2 {
		t.Fatalf("jobs after restart: %v %+v", err, jobs)
	}
	if st2.count() != 1 {
		t.Fatalf("outbox after restart: %d", st2.count())
	}
	if next, _ := st2.nextSeq(); next != seq+1 {
		t.Errorf("seq after restart %d, want %d", next, seq+1)
	}
	if st2.ack("r1.00000.r0", 9) {
		t.Error("ack of another attempt removed the result")
	}
	if !st2.ack("r1.00000.r0", 1) || st2.count() != 0 {
		t.Error("ack did not remove the result")
	}
	if fs, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json")); len(fs) != 0 {
		t.Errorf("outbox files left: %v", fs)
	}
}

func TestCheckCoverage(t *testing.T) {
	job := &proto.Job{Keys: []string{"a", "b"}}
	cases := []struct {
		keys []string
		ok   bool
	}{{[]string{"b", "a"}, true}, {[]string{"a"}, false}, {[]string{"a", "a"}, false}, {[]string{"a", "c"}, false}}
	for _, c := range cases {
		var rs []profiler.LayerResult
		for _, k := range c.keys {
			rs = append(rs, profiler.LayerResult{Key: k})
		}
		if err := checkCoverage(job, rs); (err == nil) != c.ok {
			t.Errorf("%v: %v", c.keys, err)
		}
	}
}

// TestProfilerMeasure measures one real key on the ref backend with a tiny
// protocol, and refuses a malformed key.
func TestProfilerMeasure(t *testing.T) {
	m, err := ProfilerMeasure("ref")
	if err != nil {
		t.Fatal(err)
	}
	ls := space.MustLookup("spnas-fmnist").UniqueKeys()
	key := ls[len(ls)-1].Key()
	p := proto.FromProfiler(profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MaxSecs: 2, RelTol: 0.05, Level: 0.95})
	calls := 0
	res, err := m(context.Background(), &proto.Job{Keys: []string{key}, Threads: 1, Protocol: p}, func(int, int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Key != key || res[0].Stats.Count < 6 || res[0].Conditions.Backend != "ref" || calls == 0 {
		t.Fatalf("result %+v, progress calls %d", res, calls)
	}
	if _, err := m(context.Background(), &proto.Job{Keys: []string{"conv-bogus"}, Threads: 1, Protocol: p}, func(int, int) {}); err == nil {
		t.Error("malformed key measured")
	}
	if _, err := ProfilerMeasure("tpu"); err == nil {
		t.Error("unknown backend accepted")
	}
}

func TestNewValidates(t *testing.T) {
	base := Config{Broker: "tcp://127.0.0.1:1", ID: "a1", DataDir: t.TempDir(), Backend: "ref"}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad id", func(c *Config) { c.ID = "a/b" }, "agent id"},
		{"bad class", func(c *Config) { c.Class = "x y" }, "class"},
		{"bad tag", func(c *Config) { c.Tags = map[string]string{"soc": "a b"} }, `tags: tag soc: value "a b"`},
		{"bad broker", func(c *Config) { c.Broker = "http://x:1" }, "scheme"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir"},
		{"bad backend", func(c *Config) { c.Backend = "tpu" }, "tpu"},
	}
	for _, c := range cases {
		cfg := base
		c.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
