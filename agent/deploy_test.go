package agent_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

func TestMain(m *testing.M) {
	fleettest.AgentMain(nil)
	os.Exit(m.Run())
}

// startAgent starts a real agent process as dev1 on dir, trusting the
// rig's key; pauseAt freezes its install at that point (see
// fleettest.AgentSpec).
func startAgent(t *testing.T, r *fleettest.Rig, dir, pauseAt, pauseFile string) *fleettest.AgentProcess {
	t.Helper()
	return fleettest.StartAgent(t, fleettest.AgentSpec{Broker: r.Broker.URL(), ID: "dev1", DataDir: dir,
		Trust: r.Key.PublicFile, PauseAt: pauseAt, PauseFile: pauseFile})
}

// modelOptions are the manifest choices of every deploy here: a tight
// tolerance, since agent and host both run the ref backend.
func modelOptions(version uint64) rollout.ManifestOptions {
	return rollout.ManifestOptions{Name: "m", Version: version, InputSeed: 9, MaxDiff: 1}
}

// checkStore asserts the store is consistent with current == want and no
// install report is left undelivered.
func checkStore(t *testing.T, dir string, want uint64) {
	t.Helper()
	s, err := install.NewModels(install.ModelsConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cur, vs, err := s.Check("m")
	if err != nil {
		t.Fatalf("store inconsistent: %v", err)
	}
	if cur != want {
		t.Fatalf("current %d (versions %v), want %d", cur, vs, want)
	}
	if ps, _ := filepath.Glob(filepath.Join(dir, "models", install.PartialDir, "*")); len(ps) != 0 {
		t.Errorf("partial downloads left: %v", ps)
	}
	if ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json")); len(ps) != 0 {
		t.Errorf("undelivered install reports: %v", ps)
	}
}

// TestDeployKilledAndRestarted SIGKILLs a real agent process during the
// download, the install and the health check of version 2 (version 1 is
// committed), starts it again on the same data dir, and checks that it
// finishes the install and leaves a consistent store. The deploys are built
// and signed by the host's manifest code.
func TestDeployKilledAndRestarted(t *testing.T) {
	body1 := fleettest.LayerModel(t, "fc-input:16-output:10")
	body2 := fleettest.LayerModel(t, "fc-input:512-output:10")
	for _, point := range []string{proto.InstallDownloading, proto.InstallInstalling, proto.InstallChecking} {
		t.Run(point, func(t *testing.T) {
			r := fleettest.NewRig(t, fleettest.Embedded, fleettest.Options{Agents: []string{"dev1"}})
			dir := t.TempDir()
			a := startAgent(t, r, dir, "", "")
			r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, body1), modelOptions(1), nil)
			r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)
			if err := a.Stop(syscall.SIGTERM); err != nil {
				t.Fatalf("agent exit after SIGTERM: %v", err)
			}

			pauseFile := filepath.Join(t.TempDir(), "paused")
			pauseAt := point
			art := r.Artifacts.Add(t, body2)
			if point == proto.InstallDownloading {
				pauseAt = "" // the artifact server hangs half way instead
				r.Artifacts.CutNext(art.SHA256)
			}
			a = startAgent(t, r, dir, pauseAt, pauseFile)
			r.DeployModel(t, "dev1", "r2", art, modelOptions(2), nil)
			if point == proto.InstallDownloading {
				part := filepath.Join(dir, "models", install.PartialDir, art.SHA256)
				fleettest.Eventually(t, 20*time.Second, "half the artifact on disk", func() bool {
					fi, err := os.Stat(part)
					return err == nil && fi.Size() == int64(len(body2)/2)
				})
			} else {
				fleettest.Eventually(t, 20*time.Second, "the agent to pause at "+point, func() bool {
					_, err := os.Stat(pauseFile)
					return err == nil
				})
			}
			a.Stop(syscall.SIGKILL)
			if _, err := os.Stat(filepath.Join(dir, "models", "m", install.JournalFile)); err != nil {
				t.Fatalf("no install journal after the kill: %v", err)
			}
			r.Host.WaitState(t, "r2", point, 5*time.Second) // the host saw how far it got

			a = startAgent(t, r, dir, "", "")
			got := r.Host.WaitState(t, "r2", proto.InstallCommitted, 30*time.Second)
			if got.Version != 2 || got.LatencyMS <= 0 {
				t.Fatalf("committed report %+v", got)
			}
			if point == proto.InstallDownloading {
				rs := r.Artifacts.Ranges(art.SHA256)
				if len(rs) != 2 || rs[1] != "bytes="+strconv.Itoa(len(body2)/2)+"-" {
					t.Errorf("artifact requests' Range headers %q, want a resume from %d", rs, len(body2)/2)
				}
			}
			if err := a.Stop(syscall.SIGTERM); err != nil {
				t.Fatalf("agent exit after SIGTERM: %v", err)
			}
			checkStore(t, dir, 2)
			t.Logf("%s: host saw %v", point, r.Host.Seen("r2"))
		})
	}
}

// TestDeployRollbackOverBroker: a model failing its health check is rolled
// back, the previous one stays current, and the reason reaches the host;
// reports made while the broker is down arrive after it comes back. It runs
// on both brokers, so mosquitto's generated ACL is checked too.
func TestDeployRollbackOverBroker(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) { testRollbackOverBroker(t, kind) })
	}
}

// runAgent runs an in-process agent on dir until the returned stop is called.
func runAgent(t *testing.T, r *fleettest.Rig, dir string, pause func(string)) (stop func()) {
	t.Helper()
	_, stop = fleettest.RunAgent(t, agent.Config{Broker: r.Broker.URL(), ID: "dev1", Password: fleettest.AgentPassword,
		DataDir: dir, Backend: "ref", Trust: r.Key.Public, Heartbeat: 200 * time.Millisecond, Resend: 300 * time.Millisecond,
		InstallPause: pause})
	return stop
}

func testRollbackOverBroker(t *testing.T, kind string) {
	r := fleettest.NewRig(t, kind, fleettest.Options{Agents: []string{"dev1"}})
	dir := t.TempDir()
	release := make(chan struct{})
	paused := make(chan struct{}, 1)
	stop := runAgent(t, r, dir, func(point string) {
		if point == proto.InstallInstalling {
			paused <- struct{}{}
			<-release
		}
	})

	r.DeployModel(t, "dev1", "r1", r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10")), modelOptions(1), nil)
	<-paused
	release <- struct{}{}
	r.Host.WaitState(t, "r1", proto.InstallCommitted, 20*time.Second)

	// The host's manifest, with the expected output of another model.
	r.DeployModel(t, "dev1", "r2", r.Artifacts.Add(t, fleettest.LayerModel(t, "fc-input:512-output:10")), modelOptions(2),
		func(m *proto.Manifest) { m.Expected = fleettest.WrongTop1(m.Expected) })
	<-paused
	// The broker goes away while the install goes on: its reports wait on disk.
	r.Broker.Stop()
	release <- struct{}{}
	fleettest.Eventually(t, 30*time.Second, "the rollback to be recorded", func() bool {
		_, err := os.Stat(filepath.Join(dir, "models", "m", install.JournalFile))
		return os.IsNotExist(err)
	})
	// Stop this agent before the broker returns, so the host is surely
	// subscribed again when the next one connects (install reports are not
	// retained: a host that is away misses them).
	stop()
	if ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json")); len(ps) == 0 {
		t.Fatal("no install report waiting while the broker was down")
	}
	r.Broker.Restart()
	r.Host.WaitSubscribed(t)
	stop = runAgent(t, r, dir, nil)
	got := r.Host.WaitState(t, "r2", proto.InstallRolledBack, 30*time.Second)
	if !strings.Contains(got.Reason, "health check: top-1") {
		t.Fatalf("rollback reason %q", got.Reason)
	}
	r.Host.WaitState(t, "r2", proto.InstallChecking, time.Second)
	fleettest.Eventually(t, 10*time.Second, "the outbox to drain", func() bool {
		ps, _ := filepath.Glob(filepath.Join(dir, "installs", "outbox", "*.json"))
		return len(ps) == 0
	})
	stop()
	checkStore(t, dir, 1)
	if _, err := os.Stat(filepath.Join(dir, "models", "m", "2")); !os.IsNotExist(err) {
		t.Errorf("rolled-back version still in the store: %v", err)
	}
}
