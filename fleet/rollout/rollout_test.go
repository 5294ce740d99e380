package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/progress"
)

// behaviour is how a fake device answers a deploy.
type behaviour int

const (
	commits   behaviour = iota // received .. committed
	rollsBack                  // received .. checking, rolled_back
	silent                     // never answers
	stalls                     // received, downloading, then nothing
	tampered                   // received .. checking, tampered
)

// fakeFleet records what the engine sends and answers like devices would.
type fakeFleet struct {
	mu        sync.Mutex
	behave    map[string]behaviour
	deployed  []string // agents in the order they were sent the deploy
	withdrawn []string
	reports   chan *proto.Install
}

func newFakeFleet(behave map[string]behaviour) *fakeFleet {
	return &fakeFleet{behave: behave, reports: make(chan *proto.Install, 1024)}
}

func (f *fakeFleet) Deploy(_ context.Context, agent string, d *proto.Deploy) error {
	f.mu.Lock()
	f.deployed = append(f.deployed, agent)
	b := f.behave[agent]
	f.mu.Unlock()
	rep := func(state, reason string, lat float64) {
		f.reports <- &proto.Install{Agent: agent, Rollout: d.Rollout, Kind: proto.ManifestModel, Name: "m", Version: 3,
			State: state, Reason: reason, Bytes: 10, Size: 10, LatencyMS: lat, Time: time.Now()}
	}
	go func() {
		switch b {
		case commits:
			for _, s := range []string{proto.InstallReceived, proto.InstallDownloading, proto.InstallVerifying,
				proto.InstallInstalling, proto.InstallChecking} {
				rep(s, "", 0)
			}
			rep(proto.InstallCommitted, "", 1.5)
		case rollsBack:
			rep(proto.InstallReceived, "", 0)
			rep(proto.InstallChecking, "", 0)
			rep(proto.InstallRolledBack, "health check: top-1 7 != expected 2", 0)
		case tampered:
			rep(proto.InstallReceived, "", 0)
			rep(proto.InstallChecking, "", 0)
			rep(proto.InstallTampered, "before the health check: models/m/3/model.tflite has sha256 ...", 0)
		case stalls:
			rep(proto.InstallReceived, "", 0)
			rep(proto.InstallDownloading, "", 0)
		}
	}()
	return nil
}

func (f *fakeFleet) Withdraw(_ context.Context, agent string) error {
	f.mu.Lock()
	f.withdrawn = append(f.withdrawn, agent)
	f.mu.Unlock()
	return nil
}

func (f *fakeFleet) Reports() <-chan *proto.Install { return f.reports }

func (f *fakeFleet) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deployed...)
}

func agentsOf(n int, offline ...string) []Agent {
	var out []Agent
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("dev%02d", i)
		st := proto.StateOnline
		for _, o := range offline {
			if o == id {
				st = proto.StateOffline
			}
		}
		out = append(out, Agent{ID: id, Class: "pi", State: st})
	}
	return out
}

func testRollout(targets []Agent, canary int, pct float64, timeout time.Duration) *Rollout {
	m := proto.Manifest{Kind: proto.ManifestModel, Name: "m", Version: 3, Size: 10, SHA256: strings.Repeat("a", 64),
		URL: "http://h/artifacts/x", Created: time.Now().UTC()}
	return NewRollout(NewID("m", 3, m.Created), m, []byte(`{"signed":"envelope"}`), "all", targets, canary, pct,
		timeout.Seconds())
}

func TestRolloutStateMachine(t *testing.T) {
	tests := []struct {
		name      string
		agents    []Agent
		behave    map[string]behaviour
		canary    int
		pct       float64
		timeout   time.Duration
		wantPhase string
		wantErr   error // errors.Is target; nil means success
		// wantState maps agents to their final state; unlisted agents are committed.
		wantState map[string]string
		// canaryOnly: nobody but the canaries may have been sent the deploy.
		canaryOnly    bool
		wantWithdrawn []string // must be among the withdrawn
		wantCanaries  string   // comma-separated, if set
	}{
		{name: "canary succeeds then the rest", agents: agentsOf(5), canary: 2, timeout: 5 * time.Second,
			wantPhase: PhaseDone},
		{name: "canary failure aborts; the rest never get it", agents: agentsOf(5),
			behave: map[string]behaviour{"dev00": rollsBack}, canary: 2, pct: 10, timeout: 5 * time.Second,
			wantPhase: PhaseAborted, wantErr: ErrAborted, canaryOnly: true,
			wantState:     map[string]string{"dev00": proto.InstallRolledBack, "dev02": DeviceSkipped, "dev03": DeviceSkipped, "dev04": DeviceSkipped},
			wantWithdrawn: []string{"dev00"}},
		{name: "abort withdraws the deploy from a canary that never reported", agents: agentsOf(4),
			behave: map[string]behaviour{"dev00": rollsBack, "dev01": silent}, canary: 2, pct: 0, timeout: 300 * time.Millisecond,
			wantPhase: PhaseAborted, wantErr: ErrAborted, canaryOnly: true,
			wantState: map[string]string{"dev00": proto.InstallRolledBack, "dev01": DeviceSkipped, "dev02": DeviceSkipped,
				"dev03": DeviceSkipped},
			wantWithdrawn: []string{"dev00", "dev01"}},
		{name: "canary failure within the threshold goes on", agents: agentsOf(4),
			behave: map[string]behaviour{"dev01": rollsBack}, canary: 2, pct: 50, timeout: 5 * time.Second,
			wantPhase: PhaseDone, wantErr: errAnyFailed,
			wantState:     map[string]string{"dev01": proto.InstallRolledBack},
			wantWithdrawn: []string{"dev01"}},
		{name: "tampered canary aborts and is withdrawn", agents: agentsOf(3),
			behave: map[string]behaviour{"dev00": tampered}, canary: 1, pct: 0, timeout: 5 * time.Second,
			wantPhase: PhaseAborted, wantErr: ErrAborted, canaryOnly: true,
			wantState:     map[string]string{"dev00": proto.InstallTampered, "dev01": DeviceSkipped, "dev02": DeviceSkipped},
			wantWithdrawn: []string{"dev00"}},
		{name: "silent device times out and counts as failed", agents: agentsOf(3),
			behave: map[string]behaviour{"dev02": silent}, canary: 1, pct: 50, timeout: 300 * time.Millisecond,
			wantPhase: PhaseDone, wantErr: errAnyFailed,
			wantState: map[string]string{"dev02": DeviceTimeout}},
		{name: "device stalled mid-download times out", agents: agentsOf(2),
			behave: map[string]behaviour{"dev01": stalls}, canary: 1, pct: 100, timeout: 300 * time.Millisecond,
			wantPhase: PhaseDone, wantErr: errAnyFailed,
			wantState: map[string]string{"dev01": DeviceTimeout}},
		{name: "silent canary aborts", agents: agentsOf(3),
			behave: map[string]behaviour{"dev00": silent}, canary: 1, pct: 0, timeout: 300 * time.Millisecond,
			wantPhase: PhaseAborted, wantErr: ErrAborted, canaryOnly: true,
			wantState:     map[string]string{"dev00": DeviceTimeout, "dev01": DeviceSkipped, "dev02": DeviceSkipped},
			wantWithdrawn: []string{"dev00"}},
		{name: "offline agents are not picked as canaries", agents: agentsOf(3, "dev00"),
			behave: map[string]behaviour{"dev00": silent}, canary: 1, pct: 0, timeout: 300 * time.Millisecond,
			wantPhase: PhaseAborted, wantErr: ErrAborted, wantCanaries: "dev01",
			wantState: map[string]string{"dev00": DeviceTimeout}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			r := testRollout(tc.agents, tc.canary, tc.pct, tc.timeout)
			f := newFakeFleet(tc.behave)
			var prog bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = Run(ctx, st, r, f, Options{Tick: 20 * time.Millisecond, Progress: &prog})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr == errAnyFailed && (err == nil || !strings.Contains(err.Error(), "devices failed")):
				t.Fatalf("Run: %v, want a devices-failed error", err)
			case tc.wantErr == ErrAborted && !errors.Is(err, ErrAborted):
				t.Fatalf("Run: %v, want ErrAborted", err)
			}
			if r.Phase != tc.wantPhase {
				t.Errorf("phase %s (%s), want %s", r.Phase, r.Reason, tc.wantPhase)
			}
			for _, d := range r.Devices {
				want := proto.InstallCommitted
				if s, ok := tc.wantState[d.Agent]; ok {
					want = s
				}
				if d.State != want {
					t.Errorf("%s: state %s (%s), want %s", d.Agent, d.State, d.Reason, want)
				}
				if d.Failed() && d.Reason == "" {
					t.Errorf("%s failed without a reason", d.Agent)
				}
				if d.State == proto.InstallCommitted && d.LatencyMS != 1.5 {
					t.Errorf("%s: latency %g, want the reported 1.5", d.Agent, d.LatencyMS)
				}
			}
			sent := f.sent()
			canaries := map[string]bool{}
			for _, d := range r.Devices {
				if d.Canary {
					canaries[d.Agent] = true
				}
			}
			// Canaries always go first.
			for i, a := range sent {
				if i < len(canaries) && !canaries[a] {
					t.Errorf("deploy %d went to %s before all canaries", i, a)
				}
				if tc.canaryOnly && !canaries[a] {
					t.Errorf("%s was sent the deploy although the canaries aborted the rollout", a)
				}
			}
			if tc.wantCanaries != "" {
				var got []string
				for a := range canaries {
					got = append(got, a)
				}
				sort.Strings(got)
				if strings.Join(got, ",") != tc.wantCanaries {
					t.Errorf("canaries %v, want %s", got, tc.wantCanaries)
				}
			}
			if len(canaries) != min(max(tc.canary, 1), len(tc.agents)) {
				t.Errorf("%d canaries, want %d", len(canaries), tc.canary)
			}
			if tc.wantWithdrawn != nil {
				f.mu.Lock()
				got := append([]string(nil), f.withdrawn...)
				f.mu.Unlock()
				for _, w := range tc.wantWithdrawn {
					if !slices.Contains(got, w) {
						t.Errorf("withdrawn %v, want it to include %s", got, w)
					}
				}
			}
			// The store holds exactly what Run returned with.
			back, err := st.Load(r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if back.Phase != r.Phase || back.Counts() != r.Counts() || back.Finished.IsZero() {
				t.Errorf("stored rollout: phase %s counts %+v finished %v; in memory %s %+v", back.Phase, back.Counts(),
					back.Finished, r.Phase, r.Counts())
			}
			if r.Phase == PhaseAborted && !strings.Contains(prog.String(), "ABORTED") {
				t.Errorf("progress does not say the rollout aborted:\n%s", prog.String())
			}
		})
	}
}

// errAnyFailed marks cases that end with failed devices but no abort.
var errAnyFailed = errors.New("some devices failed")

// A host stopped mid-rollout leaves a status a new process can read; run
// again, it re-publishes to the devices it had not heard the end from and
// finishes.
func TestRolloutSurvivesHostRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := testRollout(agentsOf(3), 1, 0, 5*time.Second)
	// First run: the canary commits, the other two are slow to answer and
	// the host is stopped while they work.
	f := newFakeFleet(map[string]behaviour{"dev01": stalls, "dev02": stalls})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			if b, err := st.Load(r.ID); err == nil && b.Phase == PhaseRest && b.Device("dev02").State == proto.InstallDownloading &&
				b.Device("dev01").State == proto.InstallDownloading {
				cancel()
				return
			}
		}
	}()
	err = Run(ctx, st, r, f, Options{Tick: 20 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Run: %v, want context.Canceled", err)
	}

	// "Restart": a new store over the same directory.
	st2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	back, err := st2.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != r.ID || back.Phase != PhaseInterrupted || !strings.Contains(back.Reason, "phase rest") {
		t.Fatalf("after restart: %s phase %s (%s), want %s interrupted in phase rest", back.ID, back.Phase, back.Reason, r.ID)
	}
	want := map[string]string{"dev00": proto.InstallCommitted, "dev01": proto.InstallDownloading, "dev02": proto.InstallDownloading}
	for a, s := range want {
		if d := back.Device(a); d == nil || d.State != s {
			t.Errorf("after restart %s: %+v, want state %s", a, d, s)
		}
	}
	if c := back.Counts(); c != (Counts{Total: 3, Committed: 1, Pending: 2}) {
		t.Errorf("counts after restart %+v", c)
	}

	// Resume: now the devices answer in full.
	f2 := newFakeFleet(nil)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := Run(ctx2, st2, back, f2, Options{Tick: 20 * time.Millisecond}); err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if got := strings.Join(f2.sent(), ","); got != "dev01,dev02" {
		t.Errorf("resume re-published to %q, want only the two unfinished devices", got)
	}
	final, err := st2.Load(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !final.Succeeded() {
		t.Errorf("resumed rollout: phase %s counts %+v", final.Phase, final.Counts())
	}
	if err := Run(ctx2, st2, final, f2, Options{}); err == nil {
		t.Error("Run of a finished rollout succeeded")
	}
}

func TestApplyIgnoresForeignAndReorderedReports(t *testing.T) {
	r := testRollout(agentsOf(2), 1, 0, time.Second)
	e := &engine{r: r, log: discardLogger(), bar: newBar()}
	r.Devices[0].State = DeviceSent
	now := time.Now()
	rep := func(agent, rollout, state string, version uint64) *proto.Install {
		return &proto.Install{Agent: agent, Rollout: rollout, Kind: proto.ManifestModel, Name: "m", Version: version, State: state}
	}
	tests := []struct {
		name    string
		m       *proto.Install
		changed bool
		want    string
	}{
		{"other rollout", rep("dev00", "other", proto.InstallReceived, 3), false, DeviceSent},
		{"unknown agent", rep("zz", r.ID, proto.InstallReceived, 3), false, DeviceSent},
		{"other version", rep("dev00", r.ID, proto.InstallReceived, 2), false, DeviceSent},
		{"device not sent yet", rep("dev01", r.ID, proto.InstallReceived, 3), false, DeviceSent},
		{"received", rep("dev00", r.ID, proto.InstallReceived, 3), true, proto.InstallReceived},
		{"duplicate", rep("dev00", r.ID, proto.InstallReceived, 3), false, proto.InstallReceived},
		{"committed", rep("dev00", r.ID, proto.InstallCommitted, 3), true, proto.InstallCommitted},
		{"late checking after committed", rep("dev00", r.ID, proto.InstallChecking, 3), false, proto.InstallCommitted},
	}
	for _, tc := range tests {
		if got := e.apply(tc.m, now); got != tc.changed || r.Devices[0].State != tc.want {
			t.Errorf("%s: changed %v state %s, want %v %s", tc.name, got, r.Devices[0].State, tc.changed, tc.want)
		}
	}
	if r.Devices[1].State != DevicePending {
		t.Errorf("dev01 state %s, want pending", r.Devices[1].State)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newBar() *progress.Bar { return progress.New(nil, "test", 2) }
