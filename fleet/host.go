package fleet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/internal/progress"
	"edgenas/lut"
)

// Config configures a fleet profile.
type Config struct {
	Broker   string
	Username string
	Password string
	// TLS, for an mqtts:// broker, holds the CA and the host's certificate (pki.ClientTLS).
	TLS *tls.Config
	// ClientID defaults to edgenas-host-<run>-<random>.
	ClientID string
	Spec     RunSpec
	// Store receives the entries; Journal is the job table file.
	Store   *lut.Store
	Journal string
	// Lease is how long an agent may stay silent before its jobs move on (default 10 s).
	Lease time.Duration
	// Grace is how long a job may go unlisted in its agent's status before it is re-sent (default 2 s).
	Grace time.Duration
	// Window is how many jobs an agent holds at once (default 2: one running, one queued).
	Window int
	// Timeout bounds the whole run (0: none).
	Timeout time.Duration
	// Stall ends the run when pending jobs found no agent to take them for
	// this long (0: wait for agents however long, as a profile does).
	Stall time.Duration
	// ToolVersion is recorded in every entry.
	ToolVersion string
	// Progress, if set, receives progress lines.
	Progress io.Writer
	Logger   *slog.Logger
}

// Summary is the outcome of a fleet profile.
type Summary struct {
	Run       string          `json:"run"`
	Class     string          `json:"class"`
	Counts    Counts          `json:"counts"`
	Keys      int             `json:"keys"`
	Entries   int             `json:"entries_ingested"`
	Agents    []string        `json:"agents"`
	Failures  []string        `json:"failures,omitempty"`
	Resumed   bool            `json:"resumed"`
	Seconds   float64         `json:"seconds"`
	Rejected  int             `json:"rejected_messages"`
	Dupes     int             `json:"duplicate_results"`
	Reissued  int             `json:"reissued_leases"`
	Latencies []time.Duration `json:"-"`
	// Timings are a model bench's results, one per model and device, keyed
	// by the model's sha256 (the store receives none).
	Timings []lut.Entry `json:"timings,omitempty"`
}

// event is what the MQTT handlers hand the host's single event loop.
type event struct {
	agent string
	msg   any
	at    time.Time
}

type agentState struct {
	id, class, state string
	tags             map[string]string
	seen             time.Time
	info             []byte
	registered       bool
}

// Host drives one fleet profile.
type Host struct {
	cfg    Config
	log    *slog.Logger
	events chan event
	client paho.Client

	mu      sync.Mutex // guards what Snapshot reads
	tab     *table
	agents  map[string]*agentState
	sum     Summary
	journal *journal
	bar     *progress.Bar
	// stalled is since when pending jobs have found no agent (see Config.Stall).
	stalled time.Time
}

// NewHost checks the configuration and replays the job table.
func NewHost(cfg Config) (*Host, error) {
	if (cfg.Store == nil && cfg.Spec.Kind != proto.JobKindModels) || cfg.Journal == "" {
		return nil, errors.New("fleet: a store and a journal path are required")
	}
	if _, err := proto.NormalizeBroker(cfg.Broker); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 2
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	j, tab, err := openJournal(cfg.Journal, cfg.Spec)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	h := &Host{cfg: cfg, log: log, events: make(chan event, 1<<16), tab: tab, agents: map[string]*agentState{}, journal: j}
	h.cfg.Spec = tab.spec
	h.sum = Summary{Run: tab.spec.Run, Class: tab.spec.Class, Keys: len(tab.spec.Keys), Resumed: tab.count[Done]+tab.count[Failed] > 0}
	if cfg.ClientID == "" {
		h.cfg.ClientID = "edgenas-host-" + tab.spec.Run + "-" + NewRunID()[1:] // unique per process: two hosts never take over each other's session
	}
	return h, nil
}

// Run connects, dispatches until every job is done or failed (or ctx ends),
// and returns the summary. An interrupted run resumes from the journal.
func (h *Host) Run(ctx context.Context) (Summary, error) {
	defer h.journal.close()
	start := time.Now()
	if err := h.reconcile(); err != nil {
		return h.sum, err
	}
	if h.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: h.cfg.Broker, ClientID: h.cfg.ClientID,
		Username: h.cfg.Username, Password: h.cfg.Password, TLS: h.cfg.TLS, OnConnect: func(c paho.Client) { h.onConnect(ctx, c) },
		OnLost: func(err error) { h.log.Warn("connection lost", "err", err) }})
	if err != nil {
		return h.sum, fmt.Errorf("fleet: %w", err)
	}
	h.client = c
	defer c.Disconnect(250)
	label := "fleet profile "
	if h.tab.spec.Kind == proto.JobKindModels {
		label = "fleet bench "
	}
	h.bar = progress.New(h.cfg.Progress, label+h.tab.spec.Run, len(h.tab.jobs))
	h.bar.Add(h.tab.count[Done]+h.tab.count[Failed], "resumed")
	err = h.loop(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sum.Counts = h.tab.counts()
	h.sum.Failures = h.tab.failures()
	h.sum.Seconds = time.Since(start).Seconds()
	agents := map[string]bool{}
	for _, j := range h.tab.jobs {
		if j.State == Done {
			agents[j.Agent] = true
		}
	}
	h.sum.Agents = h.sum.Agents[:0]
	for a := range agents {
		h.sum.Agents = append(h.sum.Agents, a)
	}
	sort.Strings(h.sum.Agents)
	if err != nil {
		return h.sum, err
	}
	if len(h.sum.Failures) > 0 {
		return h.sum, fmt.Errorf("fleet: %d jobs failed, first: %s", len(h.sum.Failures), h.sum.Failures[0])
	}
	return h.sum, nil
}

// subscribeRetry is how long onConnect waits between subscription attempts.
const subscribeRetry = time.Second

// onConnect subscribes after every (re)connection, retrying while the
// connection is open until ctx (the run) ends.
func (h *Host) onConnect(ctx context.Context, c paho.Client) {
	h.log.Info("connected", "broker", h.cfg.Broker)
	for {
		err := proto.Subscribe(c, h.onMessage, proto.Filter(proto.KindStatus), proto.Filter(proto.KindInfo), proto.Filter(proto.KindResult))
		if err == nil {
			return
		}
		h.log.Error("subscribe failed; retrying", "err", err)
		if !c.IsConnectionOpen() {
			return // the next onConnect starts over
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(subscribeRetry):
		}
	}
}

// onMessage validates and queues; all decisions happen in the event loop.
func (h *Host) onMessage(_ paho.Client, m paho.Message) {
	msg, err := proto.Decode(m.Topic(), m.Payload())
	if err != nil {
		if len(m.Payload()) == 0 {
			return // a cleared retained message
		}
		h.log.Warn("message refused", "reason", err)
		h.mu.Lock()
		h.sum.Rejected++
		h.mu.Unlock()
		return
	}
	agent, _, _ := proto.ParseTopic(m.Topic())
	h.events <- event{agent: agent, msg: msg, at: time.Now()}
}

func (h *Host) loop(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		h.mu.Lock()
		finished := h.tab.finished()
		h.mu.Unlock()
		if finished {
			return h.journal.sync()
		}
		select {
		case <-ctx.Done():
			h.journal.sync()
			return fmt.Errorf("fleet: run %s stopped with %d of %d jobs done: %w", h.tab.spec.Run, h.tab.count[Done], len(h.tab.jobs), ctx.Err())
		case ev := <-h.events:
			// Drain what is waiting so results are ingested in one store
			// transaction and one journal fsync (group commit).
			batch := []event{ev}
			for len(batch) < 512 {
				select {
				case ev := <-h.events:
					batch = append(batch, ev)
					continue
				default:
				}
				break
			}
			if err := h.handle(ctx, batch); err != nil {
				return err
			}
		case <-tick.C:
		}
		if err := h.maintain(time.Now()); err != nil {
			return err
		}
	}
}

// handle applies a batch of events.
func (h *Host) handle(ctx context.Context, batch []event) error {
	var results []event
	h.mu.Lock()
	for _, ev := range batch {
		switch m := ev.msg.(type) {
		case *proto.Info:
			a := h.agent(ev.agent)
			a.class, a.tags = m.Class, m.Tags
			a.info, _ = json.Marshal(m)
		case *proto.Status:
			h.status(ev, m)
		case *proto.Result:
			results = append(results, ev)
		}
	}
	h.mu.Unlock()
	if len(results) > 0 {
		return h.ingest(ctx, results)
	}
	return nil
}

func (h *Host) agent(id string) *agentState {
	a, ok := h.agents[id]
	if !ok {
		a = &agentState{id: id, state: proto.StateOffline}
		h.agents[id] = a
	}
	return a
}

// status applies an agent's heartbeat (mu held).
func (h *Host) status(ev event, m *proto.Status) {
	a := h.agent(ev.agent)
	a.class, a.state, a.seen = m.Class, m.State, ev.at
	if m.Class != h.tab.spec.Class {
		return
	}
	if m.State == proto.StateOffline {
		for _, j := range h.tab.release(a.id) {
			h.log.Info("agent offline; job back in the queue", "agent", a.id, "job", j.ID)
			h.sum.Reissued++
		}
		return
	}
	listed := append([]string{}, m.Queued...)
	if m.Job != "" {
		listed = append(listed, m.Job)
	}
	// Leases run from when the host processes the status, not when it
	// arrived: a host lagging behind its queue must not blame the agents.
	for _, j := range h.tab.heartbeat(a.id, listed, time.Now(), h.cfg.Lease, h.cfg.Grace) {
		h.log.Info("agent does not know its job; sending it again", "agent", a.id, "job", j.ID)
		h.sendJob(j)
	}
}

// maintain expires leases and hands pending jobs to idle agents. A lease
// the journal cannot record stops the run: the job must not go out.
func (h *Host) maintain(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range h.tab.expire(now) {
		h.log.Info("lease expired; job back in the queue", "job", j.ID, "agent", j.Agent)
		h.sum.Reissued++
	}
	if h.tab.count[Pending] == 0 {
		return nil
	}
	ids := make([]string, 0, len(h.agents))
	for id, a := range h.agents {
		if a.class == h.tab.spec.Class && proto.HasTags(a.tags, h.tab.spec.Tags) && a.state != proto.StateOffline &&
			now.Sub(a.seen) < h.cfg.Lease {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	held := map[string]int{}
	for _, id := range ids {
		held[id] = len(h.tab.leased[id])
	}
	// Round-robin one job per agent per pass, so work spreads evenly.
	var leased []*job
	for more := true; more && h.tab.count[Pending] > 0; {
		more = false
		for _, id := range ids {
			if held[id] >= h.cfg.Window {
				continue
			}
			j := h.tab.assign(id, now, h.cfg.Lease)
			if j == nil {
				continue
			}
			held[id]++
			more = true
			if err := h.journal.append(record{Event: "lease", Job: j.ID, Agent: id, Attempt: j.Attempt}); err != nil {
				return fmt.Errorf("fleet: lease %s to %s: %w", j.ID, id, err)
			}
			leased = append(leased, j)
		}
	}
	if err := h.checkStall(now, ids, len(leased)); err != nil {
		return err
	}
	if len(leased) == 0 {
		return nil
	}
	// A lease must be durable before its job can produce a result the
	// restarted host should accept.
	if err := h.journal.sync(); err != nil {
		return fmt.Errorf("fleet: %d leases: %w", len(leased), err)
	}
	for _, j := range leased {
		h.sendJob(j)
	}
	return nil
}

// sendJob publishes a job without waiting: a lost job message is recovered
// by the status reconciliation, never by the broker.
func (h *Host) sendJob(j *job) {
	msg := &proto.Job{ID: j.ID, Attempt: j.Attempt, Run: h.tab.spec.Run, Keys: j.Keys, Threads: h.tab.spec.Threads,
		Protocol: h.tab.spec.Protocol, Sent: time.Now().UTC()}
	h.tab.spec.addModels(msg)
	b, err := proto.Encode(msg)
	if err != nil {
		h.log.Error("encode job", "job", j.ID, "err", err)
		return
	}
	h.client.Publish(proto.Topic(j.Agent, proto.KindJob), proto.QoS, false, b)
}

func (h *Host) sendAck(ctx context.Context, agent string, r *proto.Result, outcome, reason string) paho.Token {
	b, err := proto.Encode(&proto.Ack{Job: r.Job, Attempt: r.Attempt, Outcome: outcome, Reason: reason, Time: time.Now().UTC()})
	if err != nil {
		h.log.Error("encode ack", "err", err)
		return nil
	}
	return h.client.Publish(proto.Topic(agent, proto.KindAck), proto.QoS, false, b)
}
