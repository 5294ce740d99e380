package fleet

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/internal/progress"
	"edgenas/lut"
	"edgenas/profiler"
)

var errDiskFull = errors.New("no space left on device")

// fullDisk fails every write, as a full disk does.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, errDiskFull }

// hostWithFullDisk is a host over a real store and journal whose journal
// writes then start failing, with agent a1 online and idle.
func hostWithFullDisk(t *testing.T) *Host {
	t.Helper()
	dir := t.TempDir()
	st, err := lut.Open(filepath.Join(dir, "lut.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spec := testSpec(4, 1, 1)
	spec.Keys = []string{"fc-input:16-output:10", "fc-input:17-output:10", "fc-input:18-output:10", "fc-input:19-output:10"}
	h, err := NewHost(Config{Broker: "tcp://127.0.0.1:1", Store: st, Journal: filepath.Join(dir, "jobs"), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.journal.f.Close() })
	h.journal.w = bufio.NewWriterSize(fullDisk{}, 16)
	h.bar = progress.New(nil, "test", len(h.tab.jobs))
	h.agents["a1"] = &agentState{id: "a1", class: spec.Class, state: proto.StateOnline, seen: time.Now()}
	return h
}

// measurement is a plausible measurement of one key on the ref backend.
func measurement(key string) profiler.LayerResult {
	return profiler.LayerResult{Key: key, Measurement: profiler.Measurement{
		Stats: profiler.Stats{Count: 6, Min: 90, P10: 95, P50: 100, P90: 105, Max: 110, Mean: 100}, Batch: 1,
		Conditions: profiler.Conditions{Backend: "ref", Threads: 1, NumCPU: 1}}}
}

// storedByA2 puts a2's entries for the first job's keys in the store, as a
// host that crashed between the store and the journal leaves them.
func storedByA2(t *testing.T, h *Host) {
	t.Helper()
	if err := h.cfg.Store.PutDevice(lut.Device{ID: "a2", Class: h.tab.spec.Class}); err != nil {
		t.Fatal(err)
	}
	for _, k := range h.tab.jobs[0].Keys {
		e := lut.FromMeasurement("a2", k, measurement(k).Measurement, time.Now(), "test")
		if err := h.cfg.Store.Put(e); err != nil {
			t.Fatal(err)
		}
	}
}

// resultFor is a1's result of a job leased to it straight in the table
// (no journal), failed when errMsg is set.
func resultFor(h *Host, errMsg string) event {
	j := h.tab.assign("a1", time.Now(), time.Minute)
	r := &proto.Result{Agent: "a1", Class: h.tab.spec.Class, Job: j.ID, Attempt: j.Attempt, Run: h.tab.spec.Run, Backend: "ref", Error: errMsg}
	if errMsg == "" {
		for _, k := range j.Keys {
			r.Results = append(r.Results, measurement(k))
		}
	}
	return event{agent: "a1", msg: r, at: time.Now()}
}

// TestJournalErrorsStopTheHost: a lease, a done (ingested or found in the
// store at start) or a fail record the journal cannot take stops the run with an error naming the journal, before any job
// or ack goes out (the host has no connection here: sending would panic).
func TestJournalErrorsStopTheHost(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *Host) error
	}{
		{name: "lease", run: func(t *testing.T, h *Host) error { return h.maintain(time.Now()) }},
		{name: "done", run: func(t *testing.T, h *Host) error { return h.ingest(context.Background(), []event{resultFor(h, "")}) }},
		{name: "fail", run: func(t *testing.T, h *Host) error { return h.ingest(context.Background(), []event{resultFor(h, "oom")}) }},
		{name: "reconciled done", run: func(t *testing.T, h *Host) error { storedByA2(t, h); return h.reconcile() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t, hostWithFullDisk(t))
			if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "job table") {
				t.Fatalf("got %v, want the journal's %v", err, errDiskFull)
			}
		})
	}
}

// refusingBroker is a connection that stays open while refusing every
// subscription.
type refusingBroker struct {
	paho.Client
	attempts atomic.Int32
	first    chan struct{} // closed at the first attempt
}

func (c *refusingBroker) IsConnectionOpen() bool { return true }

func (c *refusingBroker) SubscribeMultiple(map[string]byte, paho.MessageHandler) paho.Token {
	if c.attempts.Add(1) == 1 {
		close(c.first)
	}
	return refusedToken{}
}

type refusedToken struct{}

func (refusedToken) Wait() bool                     { return true }
func (refusedToken) WaitTimeout(time.Duration) bool { return true }
func (refusedToken) Done() <-chan struct{}          { ch := make(chan struct{}); close(ch); return ch }
func (refusedToken) Error() error                   { return errors.New("not authorized") }

// TestOnConnectStopsRetryingWithTheRun: subscription retries end when the
// run's context does, not only when the connection drops.
func TestOnConnectStopsRetryingWithTheRun(t *testing.T) {
	h := &Host{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &refusingBroker{first: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.onConnect(ctx, c) }()
	<-c.first
	cancel()
	select {
	case <-done:
	case <-time.After(subscribeRetry / 2):
		t.Fatalf("onConnect still retrying %v after the run ended", subscribeRetry/2)
	}
}
