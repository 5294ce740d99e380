package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
)

// modelSet adds a small real model (one layer) per key to a new set.
func modelSet(t *testing.T, keys []string) (*fleet.ModelSet, string) {
	t.Helper()
	dir := t.TempDir()
	set, err := fleet.NewModelSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if _, err := set.AddBytes(k, fleettest.LayerModel(t, k)); err != nil {
			t.Fatalf("model %d: %v", i, err)
		}
	}
	return set, dir
}

func benchConfig(url, dir string, replicas int) fleet.BenchConfig {
	return fleet.BenchConfig{Conn: benchConn(url), Class: class,
		Replicas: replicas, Group: 2, Threads: 1, Protocol: tinyProtocol(), Dir: dir, Lease: 2 * time.Second,
		Timeout: 90 * time.Second, ToolVersion: "test", Logger: testLogger()}
}

// TestBenchAgentKilled: two agent processes time six models; one is
// SIGKILLed while it holds a job and never comes back; its jobs are
// re-leased and every model still comes back timed.
func TestBenchAgentKilled(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.Start(t, kind, fleettest.Options{Agents: []string{"p1", "p2"}})
			dir := t.TempDir()
			k := startAgentProcess(t, b.URL(), "p1", filepath.Join(dir, "p1"))
			startAgentProcess(t, b.URL(), "p2", filepath.Join(dir, "p2"))
			set, _ := modelSet(t, smallKeys(6))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			type out struct {
				rep *fleet.BenchReport
				err error
			}
			done := make(chan out, 1)
			go func() {
				rep, err := fleet.Bench(ctx, benchConfig(b.URL(), dir, 1), set)
				done <- out{rep, err}
			}()
			fleettest.Eventually(t, 30*time.Second, "p1 to accept a model job", func() bool {
				fs, _ := filepath.Glob(filepath.Join(dir, "p1", "jobs", "*.json"))
				return len(fs) > 0
			})
			k.Stop(syscall.SIGKILL)
			o := <-done
			if o.err != nil {
				t.Fatal(o.err)
			}
			if len(o.rep.Models) != 6 {
				t.Fatalf("%d models in the report, want 6", len(o.rep.Models))
			}
			for _, m := range o.rep.Models {
				if len(m.Devices) != 1 || !(m.ClassMs > 0) || m.Devices[0].Conditions.Backend != "ref" {
					t.Errorf("model %s: %+v", m.Name, m)
				}
			}
			if o.rep.Summary.Counts.Done != o.rep.Summary.Counts.Jobs {
				t.Errorf("counts %+v", o.rep.Summary.Counts)
			}
		})
	}
}

// TestBenchEveryDeviceAndHash: with replicas 0 every online agent of the
// class times every model; a served model whose bytes no longer match its
// sha256 is refused by the agents and reported as a failed job.
func TestBenchEveryDeviceAndHash(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	for _, id := range []string{"a1", "a2"} {
		startAgent(t, b.URL(), id, filepath.Join(dir, id), fakeMeasure(0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fleettest.Eventually(t, 10*time.Second, "both agents online", func() bool {
		rows, err := fleetList(ctx, benchConn(b.URL()))
		return err == nil && len(rows) == 2
	})
	set, _ := modelSet(t, smallKeys(3))
	rep, err := fleet.Bench(ctx, benchConfig(b.URL(), dir, 0), set)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replicas != 2 || strings.Join(rep.Devices, ",") != "a1,a2" {
		t.Fatalf("replicas %d, devices %v; want both agents", rep.Replicas, rep.Devices)
	}
	for _, m := range rep.Models {
		if len(m.Devices) != 2 {
			t.Errorf("model %s timed on %d devices, want 2", m.Name, len(m.Devices))
		}
	}

	// Tamper with a served model (same size, one byte changed) that no
	// agent has cached yet: a cached copy is verified and used as it is.
	bad, sdir := modelSet(t, smallKeys(4)[:1])
	arts, _ := filepath.Glob(filepath.Join(sdir, "artifacts", "*"))
	if len(arts) != 1 {
		t.Fatalf("artifacts %v", arts)
	}
	body, err := os.ReadFile(arts[0])
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0xff
	if err := os.WriteFile(arts[0], body, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = fleet.Bench(ctx, benchConfig(b.URL(), dir, 1), bad)
	if err == nil || len(rep.Summary.Failures) != 1 || !strings.Contains(rep.Summary.Failures[0], "does not match its sha256") {
		t.Fatalf("tampered model: err %v, failures %v", err, rep.Summary.Failures)
	}
	for _, id := range []string{"a1", "a2"} {
		if fs, _ := filepath.Glob(filepath.Join(dir, id, "modelcache", filepath.Base(arts[0])+"*")); len(fs) > 0 {
			t.Errorf("agent %s kept the refused model: %v", id, fs)
		}
	}
}

func benchConn(url string) proto.ConnConfig {
	return proto.ConnConfig{Broker: url, Username: fleettest.Host.Name, Password: fleettest.Host.Password}
}

// TestBenchRejectsOtherClass: an agent stopped while it holds a model job
// comes back as another class and finishes the job from disk; its result is
// rejected, the job goes to the agent still in the class, and the bench
// completes.
func TestBenchRejectsOtherClass(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	run := func(id, cls string) func() {
		_, stop := fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: id, Class: cls, Password: fleettest.AgentPassword,
			DataDir: filepath.Join(dir, id), Backend: "ref", Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond,
			Version: "test", Logger: testLogger()})
		return stop
	}
	stop := run("a1", class)
	set, _ := modelSet(t, smallKeys(2))
	cfg := benchConfig(b.URL(), dir, 1)
	cfg.Group, cfg.Lease = 1, time.Second
	// Each job takes at least a second, so a1 is stopped while it measures.
	cfg.Protocol.MinSecs, cfg.Protocol.MaxSecs = 1, 2
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type out struct {
		rep *fleet.BenchReport
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := fleet.Bench(ctx, cfg, set)
		done <- out{rep, err}
	}()
	fleettest.Eventually(t, 30*time.Second, "a1 to accept a model job", func() bool {
		fs, _ := filepath.Glob(filepath.Join(dir, "a1", "jobs", "*.json"))
		return len(fs) > 0
	})
	stop()
	run("a1", "tablet")
	run("a2", class)
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.rep.Summary.Rejected < 1 {
		t.Errorf("no result rejected; summary %+v", o.rep.Summary)
	}
	for _, m := range o.rep.Models {
		if len(m.Devices) != 1 {
			t.Errorf("model %s timed by %d devices, want 1", m.Name, len(m.Devices))
		}
	}
}

// TestBenchStalls: a bench that needs more agents than are online ends with
// an error naming the class and the agents, instead of waiting forever.
func TestBenchStalls(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	startAgent(t, b.URL(), "a1", filepath.Join(dir, "a1"), fakeMeasure(0))
	set, _ := modelSet(t, smallKeys(1))
	cfg := benchConfig(b.URL(), dir, 2)
	cfg.Lease, cfg.Stall = time.Second, 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := fleet.Bench(ctx, cfg, set)
	if err == nil || !strings.Contains(err.Error(), "found no agent of class "+class) || !strings.Contains(err.Error(), "[a1]") {
		t.Fatalf("bench of 2 replicas on 1 agent: %v", err)
	}
	if time.Since(start) > 30*time.Second || len(rep.Models) != 1 || len(rep.Models[0].Devices) != 1 {
		t.Errorf("after %s: %+v", time.Since(start), rep.Models)
	}
}
