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
	"edgenas/fleet/fleettest"
)

func TestMain(m *testing.M) {
	fleettest.AgentMain(func(c *agent.Config) {
		c.Class, c.Measure, c.Resend = class, fakeMeasure(150*time.Millisecond), 500*time.Millisecond
	})
	os.Exit(m.Run())
}

// startAgentProcess starts a real agent process (measuring with
// fakeMeasure) that a test can SIGKILL mid-job and start again.
func startAgentProcess(t *testing.T, url, id, dir string) *fleettest.AgentProcess {
	t.Helper()
	return fleettest.StartAgent(t, fleettest.AgentSpec{Broker: url, ID: id, DataDir: dir})
}

// TestAgentKilledMidJob: an agent process is SIGKILLed while measuring and
// started again on the same data dir; every entry ends up exactly once.
func TestAgentKilledMidJob(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.Start(t, kind, fleettest.Options{Agents: []string{"a1", "a2", "k1"}})
			dir := t.TempDir()
			startAgent(t, b.URL(), "a1", filepath.Join(dir, "a1"), fakeMeasure(150*time.Millisecond))
			kdir := filepath.Join(dir, "k1")
			k := startAgentProcess(t, b.URL(), "k1", kdir)
			st := openStore(t, dir)
			sp := spec(syntheticKeys(24), 2, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := startHost(t, ctx, hostConfig(b.URL(), st, filepath.Join(dir, "lut.db.jobs"), sp))
			// Kill it while it holds an accepted job on disk.
			fleettest.Eventually(t, 30*time.Second, "k1 to accept a job", func() bool {
				fs, _ := filepath.Glob(filepath.Join(kdir, "jobs", "*.json"))
				return len(fs) > 0
			})
			time.Sleep(100 * time.Millisecond)
			k.Stop(syscall.SIGKILL)
			time.Sleep(300 * time.Millisecond)
			startAgentProcess(t, b.URL(), "k1", kdir)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, st, sp)
		})
	}
}

// TestAgentSIGTERM: an agent process stops cleanly on SIGTERM, publishing
// a retained offline status.
func TestAgentSIGTERM(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	k := startAgentProcess(t, b.URL(), "k1", t.TempDir())
	conn := proto.ConnConfig{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fleettest.Eventually(t, 10*time.Second, "k1 online", func() bool {
		rows, err := fleetList(ctx, conn)
		return err == nil && len(rows) == 1 && rows[0].State == proto.StateOnline
	})
	errc := make(chan error, 1)
	go func() { errc <- k.Stop(syscall.SIGTERM) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop within 10 s of SIGTERM")
	}
	rows, err := fleetList(ctx, conn)
	if err != nil || len(rows) != 1 || rows[0].State != proto.StateOffline {
		t.Fatalf("after SIGTERM: %v %+v", err, rows)
	}
}

// TestHostRestart: the host is stopped mid-profile and started again on the
// same journal and store; it resumes and every entry is there exactly once.
func TestHostRestart(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ids := []string{"a1", "a2", "a3"}
			b, dir, st := fakeFleet(t, kind, ids, 30*time.Millisecond)
			sp := spec(syntheticKeys(60), 2, 1)
			journal := filepath.Join(dir, "lut.db.jobs")
			ctx1, cancel1 := context.WithCancel(context.Background())
			done := startHost(t, ctx1, hostConfig(b.URL(), st, journal, sp))
			fleettest.Eventually(t, 30*time.Second, "a third of the entries", func() bool { return entryCount(t, st) >= 20 })
			cancel1()
			if err := <-done; err == nil || !strings.Contains(err.Error(), "stopped") {
				t.Fatalf("first host: %v, want a stopped error", err)
			}
			if n := entryCount(t, st); n >= len(sp.Keys) {
				t.Fatalf("all %d entries were in before the host stopped", n)
			}
			time.Sleep(500 * time.Millisecond) // agents finish and hold unacked results
			ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel2()
			// A restarted command builds a new spec; the journal's run wins.
			sp2 := sp
			sp2.Run = "rother"
			sum, err := runHost(t, ctx2, hostConfig(b.URL(), st, journal, sp2))
			if err != nil {
				t.Fatal(err)
			}
			if !sum.Resumed || sum.Run != sp.Run {
				t.Errorf("second host: resumed %v run %s, want resumed run %s", sum.Resumed, sum.Run, sp.Run)
			}
			checkExactlyOnce(t, st, sp)
		})
	}
}
