package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
)

// Config configures an agent.
type Config struct {
	// Broker is tcp://HOST:PORT.
	Broker string
	// ID names the agent (and is its broker user name unless Username is set).
	ID    string
	Class string
	// Tags label the device in its info (agent --tag soc=tensor-g1);
	// deploy --to tag:K=V and fleet profile --tag select by them.
	Tags     map[string]string
	Username string
	Password string
	// TLS, for an mqtts:// broker, holds the CA to verify the broker and
	// this device's certificate (pki.ClientTLS). Artifact servers are
	// verified against the same CA (install.ArtifactClient).
	TLS *tls.Config
	// ArtifactHTTP lets an agent with TLS set download artifacts over plain
	// http (development); otherwise it takes them only over verified https.
	ArtifactHTTP bool
	// DataDir holds accepted jobs and unacknowledged results.
	DataDir string
	// Backend is the backend name reported and, with Measure nil, used.
	Backend string
	// BenchmarkModel, when set, measures jobs with TFLite's benchmark_model
	// (BenchmarkModelMeasure) and reports benchmodel.BackendName of its
	// delegate, and runs deployed models' timing-only health checks.
	BenchmarkModel *benchmodel.Options
	// Measure overrides how jobs are measured (nil: ProfilerMeasure(Backend)).
	Measure MeasureFunc
	// CPUs, if set, pins every measurement to these CPUs (agent --cpus);
	// results and the published description record it.
	CPUs []int
	// Heartbeat is how often the status is re-published (default 2 s).
	Heartbeat time.Duration
	// Resend is how often unacknowledged results are re-published (default 5 s).
	Resend time.Duration
	// Version is the agent version reported in info.
	Version string
	// Describe overrides the device description (nil: Describe).
	Describe func(ctx context.Context) proto.Info
	Logger   *slog.Logger
	// Trust is the host's public key (edgenas agent --trust host.pub): the
	// key trusted until a rotation (DataDir/trust.json) replaces it. Every
	// Deploy is refused without either.
	Trust ed25519.PublicKey
	// Installers adds installers by manifest kind (firmware/slots adds
	// "agent"); the "model" installer is always there, on Backend (or on
	// BenchmarkModel).
	Installers map[string]install.Installer
	// InstallPause is a test hook called at named points of an install
	// (see install.Task.Pause); nil in production.
	InstallPause func(point string)
}

// Agent is one running device daemon.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	store *store

	client paho.Client
	kick   chan struct{} // wakes the resender
	work   chan struct{} // wakes the worker
	// statusNow asks the heartbeat for a status before its next tick, so
	// every status goes out from Run's goroutines, on Run's ctx; infoNow
	// likewise for info (after the trusted keys changed).
	statusNow chan struct{}
	infoNow   chan struct{}

	// keys is the trusted set of host keys; trustRefused why the last
	// rotation was refused (guarded by mu).
	keys         *signing.Keyring
	trustRefused string

	// measureBackend is the backend jobs are measured on (reported in
	// info and results).
	measureBackend string

	installs  *install.Manager
	models    *install.Models
	installMu sync.Mutex // keeps install reports in order on the wire

	mu      sync.Mutex
	queue   []*proto.Job
	current *proto.Job
	done    int
	total   int
}

// New checks cfg and opens the data dir.
func New(cfg Config) (*Agent, error) {
	if err := proto.ValidID(cfg.ID); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.Class == "" {
		cfg.Class = "default"
	}
	if err := proto.ValidID(cfg.Class); err != nil {
		return nil, fmt.Errorf("agent: class: %w", err)
	}
	if err := proto.ValidTags(cfg.Tags); err != nil {
		return nil, fmt.Errorf("agent: tags: %w", err)
	}
	if err := checkBrokerHost(cfg.Broker, "/etc"); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("agent: no data dir")
	}
	if cfg.Username == "" {
		cfg.Username = cfg.ID
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	if cfg.Resend <= 0 {
		cfg.Resend = 5 * time.Second
	}
	if cfg.Backend == "" {
		cfg.Backend = "ref"
	}
	measureBackend := cfg.Backend
	if bm := cfg.BenchmarkModel; bm != nil {
		o := bm.WithDefaults()
		measureBackend = benchmodel.BackendName(o.Delegate)
		if cfg.Measure == nil {
			m, err := BenchmarkModelMeasure(o)
			if err != nil {
				return nil, fmt.Errorf("agent: benchmark_model: %w", err)
			}
			cfg.Measure = m
		}
	}
	if cfg.Measure == nil {
		m, err := ProfilerMeasure(cfg.Backend)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		cfg.Measure = m
	}
	if len(cfg.CPUs) > 0 {
		cfg.Measure = PinnedMeasure(cfg.CPUs, cfg.Measure)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("agent", cfg.ID)
	st, warnings, err := openStore(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	a := &Agent{cfg: cfg, log: log, store: st, kick: make(chan struct{}, 1), work: make(chan struct{}, 1),
		statusNow: make(chan struct{}, 1), infoNow: make(chan struct{}, 1), measureBackend: measureBackend}
	jobs, warnings, err := st.loadJobs()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	a.queue = jobs
	if len(jobs) > 0 {
		log.Info("resuming accepted jobs", "count", len(jobs))
	}
	if err := a.setupInstalls(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// setupInstalls builds the install manager and its installer registry.
func (a *Agent) setupInstalls() error {
	mc := install.ModelsConfig{Dir: a.cfg.DataDir, Backend: a.cfg.Backend, Logger: a.log,
		Client: install.ArtifactClient(a.cfg.TLS, a.cfg.ArtifactHTTP)}
	if bm := a.cfg.BenchmarkModel; bm != nil {
		o := bm.WithDefaults()
		mc.Tool = &o // deployed models are checked where jobs are timed: on the tool
	}
	models, err := install.NewModels(mc)
	if err != nil {
		return err
	}
	keys, err := a.openKeys()
	if err != nil {
		return err
	}
	m, err := install.NewManager(install.Config{Dir: a.cfg.DataDir, Agent: a.cfg.ID, AgentVersion: a.cfg.Version,
		Keys: keys, Report: a.reportInstall, Pause: a.cfg.InstallPause, Logger: a.log})
	if err != nil {
		return err
	}
	if err := m.Register(proto.ManifestModel, models); err != nil {
		return err
	}
	for kind, in := range a.cfg.Installers {
		if err := m.Register(kind, in); err != nil {
			return err
		}
	}
	a.installs, a.models, a.keys = m, models, keys
	return nil
}

// Backend is the backend jobs are measured on, as reported in info and
// results (benchmodel.BackendName of the delegate with BenchmarkModel).
func (a *Agent) Backend() string { return a.measureBackend }

// Models is the agent's model store (DATA/models).
func (a *Agent) Models() *install.Models { return a.models }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run connects and serves until ctx ends, then shuts down cleanly: the
// running job is abandoned (it stays on disk and resumes at the next start),
// an offline status is published, and the connection closed.
func (a *Agent) Run(ctx context.Context) error {
	offline, err := proto.Encode(&proto.Status{Agent: a.cfg.ID, Class: a.cfg.Class, State: proto.StateOffline, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: a.cfg.Broker, ClientID: proto.AgentClientID(a.cfg.ID),
		Username: a.cfg.Username, Password: a.cfg.Password, TLS: a.cfg.TLS, Retry: true,
		WillTopic: proto.Topic(a.cfg.ID, proto.KindStatus), WillPayload: offline,
		OnConnect: func(c paho.Client) { a.onConnect(ctx, c) },
		OnLost:    func(err error) { a.log.Warn("connection lost", "err", err) }})
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.cfg.ID, err)
	}
	a.client = c
	var wg sync.WaitGroup
	wg.Add(4)
	// Installs run on their own goroutine so a download or health check never
	// holds up measurement jobs (and vice versa).
	go func() { defer wg.Done(); a.installs.Run(ctx) }()
	go func() { defer wg.Done(); a.worker(ctx) }()
	go func() { defer wg.Done(); a.resender(ctx) }()
	go func() { defer wg.Done(); a.heartbeat(ctx) }()
	<-ctx.Done()
	wg.Wait()
	if c.IsConnectionOpen() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := proto.PublishRaw(sctx, c, proto.Topic(a.cfg.ID, proto.KindStatus), true, offline); err != nil {
			a.log.Warn("could not publish offline status", "err", err)
		}
		cancel()
	}
	c.Disconnect(250)
	a.log.Info("stopped", "unacked", a.store.count())
	return nil
}

// onConnect runs after every (re)connection: the session is clean, so
// subscribe again, re-announce, and re-send every unacknowledged result.
func (a *Agent) onConnect(ctx context.Context, c paho.Client) {
	a.log.Info("connected", "broker", a.cfg.Broker)
	// One handler for every topic: Decode tells job, ack and deploy apart.
	// One SUBSCRIBE for all (see proto.Subscribe).
	for {
		// Keys before deploy: a broker sends retained messages in filter
		// order, so a rotation is applied before a deploy signed by the new key.
		err := proto.Subscribe(c, a.onMessage, proto.Topic(a.cfg.ID, proto.KindJob), proto.Topic(a.cfg.ID, proto.KindAck),
			proto.Topic(a.cfg.ID, proto.KindKeys), proto.Topic(a.cfg.ID, proto.KindDeploy))
		if err == nil {
			break
		}
		if c.IsConnectionOpen() && proto.Subscribe(c, a.onMessage, proto.Topic(a.cfg.ID, proto.KindJob), proto.Topic(a.cfg.ID, proto.KindAck)) == nil {
			// A broker whose ACL does not grant the deploy topic: measuring still works.
			a.log.Warn("the broker refused the deploy topic; rollouts are disabled on this connection", "err", err)
			break
		}
		a.log.Warn("subscribe failed; retrying", "err", err)
		if !c.IsConnectionOpen() {
			return // the next onConnect starts over
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	a.publishInfo(ctx, c)
	a.publishStatus(ctx)
	notify(a.kick)
	// Install reports made while offline go out now, in order.
	a.flushInstalls(ctx)
}

func (a *Agent) describe(ctx context.Context) proto.Info {
	var in proto.Info
	if a.cfg.Describe != nil {
		in = a.cfg.Describe(ctx)
		in.Agent, in.Class = a.cfg.ID, a.cfg.Class
	} else {
		in = Describe(ctx, a.cfg.ID, a.cfg.Class, a.measureBackend, a.cfg.Version)
	}
	in.PinnedCPUs = slices.Clone(a.cfg.CPUs)
	in.Trust = a.trustInfo()
	in.Tags = maps.Clone(a.cfg.Tags)
	return in
}

// status is the current state as a message.
func (a *Agent) status() *proto.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &proto.Status{Agent: a.cfg.ID, Class: a.cfg.Class, State: proto.StateOnline, Unacked: a.store.count(), Time: time.Now().UTC()}
	if a.current != nil {
		s.State, s.Job, s.Done, s.Total = proto.StateBusy, a.current.ID, a.done, a.total
	}
	for _, j := range a.queue {
		if len(s.Queued) < 64 {
			s.Queued = append(s.Queued, j.ID)
		}
	}
	if len(s.Queued) > 0 {
		s.State = proto.StateBusy
	}
	return s
}

func (a *Agent) publishStatus(ctx context.Context) {
	if a.client == nil || !a.client.IsConnectionOpen() {
		return
	}
	if err := proto.Publish(ctx, a.client, proto.Topic(a.cfg.ID, proto.KindStatus), true, a.status()); err != nil && ctx.Err() == nil {
		a.log.Warn("publish status", "err", err)
	}
}

// heartbeat publishes the status every Heartbeat, and the status or info
// when asked to (statusNow, infoNow), until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.statusNow:
		case <-a.infoNow:
			a.publishInfo(ctx, a.client)
			continue
		}
		a.publishStatus(ctx)
	}
}

// onMessage validates a message from the host and dispatches it.
func (a *Agent) onMessage(_ paho.Client, m paho.Message) {
	if len(m.Payload()) == 0 {
		// The host cleared a retained message: on the deploy topic, it
		// withdrew the deploy, so stop waiting for its artifact.
		if m.Topic() == proto.Topic(a.cfg.ID, proto.KindDeploy) {
			a.installs.Withdraw()
		}
		return
	}
	msg, err := proto.Decode(m.Topic(), m.Payload())
	if err != nil {
		a.log.Warn("message refused", "reason", err)
		return
	}
	switch v := msg.(type) {
	case *proto.Job:
		a.onJob(v)
	case *proto.Ack:
		a.onAck(v)
	case *proto.Deploy:
		a.installs.Submit(v)
	case *proto.Keys:
		a.onKeys(v)
	default:
		a.log.Warn("message refused", "reason", fmt.Sprintf("%T is not for agents", msg))
	}
}

// onJob accepts a job: de-duplicated by job id, persisted, queued. It never
// blocks on measurement (paho handlers must stay short).
func (a *Agent) onJob(job *proto.Job) {
	if _, held := a.store.result(job.ID); held {
		// Finished already and the ack was lost: answer with the stored result.
		a.log.Info("job already finished; re-sending its result", "job", job.ID)
		notify(a.kick)
		return
	}
	a.mu.Lock()
	known := a.current != nil && a.current.ID == job.ID
	for _, q := range a.queue {
		known = known || q.ID == job.ID
	}
	if !known {
		if err := a.store.saveJob(job); err != nil {
			a.mu.Unlock()
			a.log.Error("cannot persist job; dropping it (the host will re-send)", "job", job.ID, "err", err)
			return
		}
		a.queue = append(a.queue, job)
	}
	a.mu.Unlock()
	if !known {
		a.log.Info("job accepted", "job", job.ID, "attempt", job.Attempt, "keys", len(job.Keys))
		notify(a.work)
		notify(a.statusNow) // the host sees the job queued before the next heartbeat
	}
}

func (a *Agent) onAck(ack *proto.Ack) {
	if a.store.ack(ack.Job, ack.Attempt) {
		a.log.Info("result acknowledged", "job", ack.Job, "attempt", ack.Attempt, "outcome", ack.Outcome, "reason", ack.Reason)
	}
}

// worker runs queued jobs one at a time.
func (a *Agent) worker(ctx context.Context) {
	for {
		a.mu.Lock()
		var job *proto.Job
		if len(a.queue) > 0 {
			job, a.queue = a.queue[0], a.queue[1:]
			a.current, a.done, a.total = job, 0, len(job.Keys)
		}
		a.mu.Unlock()
		if job == nil {
			select {
			case <-ctx.Done():
				return
			case <-a.work:
				continue
			}
		}
		a.publishStatus(ctx)
		err := a.runJob(ctx, job)
		a.mu.Lock()
		a.current = nil
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.log.Error("job result not stored; it stays queued on disk", "job", job.ID, "err", err)
			a.mu.Lock()
			a.queue = append(a.queue, job)
			a.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(a.cfg.Resend):
			}
			continue
		}
		a.publishStatus(ctx)
	}
}

// runJob measures a job and stores its result in the outbox. Only a failure
// to store is returned: a measuring failure becomes an error result.
func (a *Agent) runJob(ctx context.Context, job *proto.Job) error {
	started := time.Now().UTC()
	measure := a.cfg.Measure
	if job.Kind == proto.JobKindModels {
		measure = a.measureModels
	}
	res, err := measure(ctx, job, func(done, total int) {
		a.mu.Lock()
		a.done, a.total = min(done, total), total
		a.mu.Unlock()
	})
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the job file stays for the next start
	}
	r := &proto.Result{Agent: a.cfg.ID, Class: a.cfg.Class, Job: job.ID, Attempt: job.Attempt, Run: job.Run,
		Backend: a.measureBackend, Started: started, Finished: time.Now().UTC()}
	if err == nil {
		err = checkCoverage(job, res)
	}
	if err != nil {
		a.log.Warn("job failed", "job", job.ID, "err", err)
		msg := err.Error()
		if len(msg) > 4000 {
			msg = msg[:4000]
		}
		r.Error = msg
	} else {
		r.Results = res
	}
	seq, serr := a.store.nextSeq()
	if serr != nil {
		return serr
	}
	r.Seq = seq
	payload, serr := a.store.putResult(r)
	if serr != nil {
		return serr
	}
	a.store.removeJob(job)
	a.log.Info("job done", "job", job.ID, "seq", seq, "keys", len(r.Results), "error", r.Error)
	a.send(ctx, outboxEntry{job: r.Job, attempt: r.Attempt, seq: r.Seq, payload: payload})
	return nil
}

// checkCoverage makes sure a measuring function returned exactly the job's keys.
func checkCoverage(job *proto.Job, res []profiler.LayerResult) error {
	want := map[string]bool{}
	for _, k := range job.Keys {
		want[k] = true
	}
	if len(res) != len(want) {
		return fmt.Errorf("measured %d keys, the job has %d", len(res), len(want))
	}
	for _, r := range res {
		if !want[r.Key] {
			return fmt.Errorf("measured key %s, which the job did not ask for (or twice)", r.Key)
		}
		delete(want, r.Key)
	}
	return nil
}

// send publishes one stored result; failure is fine, the resender retries.
func (a *Agent) send(ctx context.Context, e outboxEntry) bool {
	if a.client == nil || !a.client.IsConnectionOpen() {
		return false
	}
	a.store.markSent(e.job, time.Now())
	err := proto.PublishRaw(ctx, a.client, proto.Topic(a.cfg.ID, proto.KindResult), false, e.payload)
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("result not sent; will retry", "job", e.job, "err", err)
	}
	return err == nil
}

// resender re-publishes unacknowledged results every Resend interval and
// after every reconnect, until the host acknowledges them.
func (a *Agent) resender(ctx context.Context) {
	t := time.NewTicker(a.cfg.Resend)
	defer t.Stop()
	for {
		// On a tick, a result sent moments ago is probably being acked: skip
		// it this round. A kick (reconnect, re-sent job) sends everything.
		var cutoff time.Time
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cutoff = time.Now().Add(-a.cfg.Resend / 2)
		case <-a.kick:
			cutoff = time.Now()
		}
		for _, e := range a.store.unacked() {
			if e.sent.After(cutoff) {
				continue
			}
			if ctx.Err() != nil || !a.send(ctx, e) {
				break
			}
		}
		a.flushInstalls(ctx)
	}
}

// reportInstall persists an install report and sends it with any older
// ones still pending. A report that cannot be stored is still sent once.
func (a *Agent) reportInstall(r *proto.Install) {
	b, err := proto.Encode(r)
	if err != nil {
		a.log.Error("install report not encodable", "err", err)
		return
	}
	if _, err := a.store.putInstall(b); err != nil {
		a.log.Error("install report not persisted; sending it once", "err", err)
		if a.client != nil && a.client.IsConnectionOpen() {
			a.installMu.Lock()
			proto.PublishRaw(context.Background(), a.client, proto.Topic(a.cfg.ID, proto.KindInstall), false, b)
			a.installMu.Unlock()
		}
		return
	}
	a.flushInstalls(context.Background())
}

// flushInstalls publishes pending install reports oldest first, forgetting
// each once the broker acknowledged it; it stops at the first failure (the
// next reconnect or report tries again).
func (a *Agent) flushInstalls(ctx context.Context) {
	a.installMu.Lock()
	defer a.installMu.Unlock()
	for _, name := range a.store.pendingInstalls() {
		if a.client == nil || !a.client.IsConnectionOpen() || ctx.Err() != nil {
			return
		}
		b, err := a.store.readInstall(name)
		if err != nil {
			a.log.Warn("install report unreadable; dropped", "file", name, "err", err)
			a.store.removeInstall(name)
			continue
		}
		// A broker that just vanished would hold the install worker for
		// PublishRaw's 10 s; the report is on disk, so give up sooner.
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = proto.PublishRaw(pctx, a.client, proto.Topic(a.cfg.ID, proto.KindInstall), false, b)
		cancel()
		if err != nil {
			a.log.Warn("install report not sent; will retry", "err", err)
			return
		}
		a.store.removeInstall(name)
	}
}
