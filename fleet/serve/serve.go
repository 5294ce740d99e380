// Package serve is the long-running host service behind `edgenas serve`: it
// owns the rollout state directory (fleet/rollout's Store: rollouts and the
// content-addressed artifact store), serves the artifacts to devices, and
// runs every rollout with fleet/rollout's engine until the rollout ends by
// its own policy, however long its devices stay offline. `deploy` registers
// rollouts with it over a loopback HTTP API whose requests are signed with
// the host key. A restarted serve resumes every rollout that had not ended.
package serve

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/dashboard"
	"edgenas/fleet/rollout"
	"edgenas/internal/atomicfile"
	"edgenas/internal/filelock"
)

// Files serve keeps in the state directory, next to the rollout store's.
const (
	// InfoFile says where a running serve listens (see Info); it is removed
	// at a clean shutdown and overwritten at the next start.
	InfoFile = "serve.json"
	lockFile = "serve.lock"
	// uploadDir holds artifacts being uploaded, before they enter the store.
	uploadDir = "uploads"
)

// DefaultListen is the API's default address: loopback, and a fixed port so
// the artifact URLs in signed manifests stay valid across restarts.
const DefaultListen = "127.0.0.1:8480"

// Config configures serve (see Run).
type Config struct {
	// StateDir is the rollout state directory (shared with `deploy`).
	StateDir string
	// Listen is the address of the API (and, unless ArtifactListen is set,
	// of the artifacts): HOST:PORT, loopback by default.
	Listen string
	// ArtifactListen, if set, is a second address serving only the
	// artifacts, for devices on the network while the API stays on loopback.
	ArtifactListen string
	// Advertise is the base URL devices download artifacts from (default:
	// http:// or, with ArtifactTLS, https:// and the artifact listener's address).
	Advertise string
	// ArtifactTLS, if set, serves the ArtifactListen address over TLS (a
	// server certificate from the fleet CA, which agents verify it with).
	// The API listener stays plain: it is for this machine only.
	ArtifactTLS *tls.Config
	// Broker is how serve reaches the fleet.
	Broker proto.ConnConfig
	// Trust is the host's public key: API requests must be signed with its
	// private key, and registered manifests too.
	Trust ed25519.PublicKey
	// TLSCert and TLSKey serve the API and the dashboard over TLS, which
	// --listen off loopback requires.
	TLSCert, TLSKey string
	// LUT (a lut.Store file, read only), LUTValidate (a `lut validate`
	// output directory) and Runs (a directory of search runs) are what the
	// dashboard's latency and search pages show.
	LUT, LUTValidate, Runs string
	// Tick is the engines' check interval (0: the engine's default).
	Tick   time.Duration
	Logger *slog.Logger
}

// Info is the content of InfoFile.
type Info struct {
	PID int `json:"pid"`
	// API is the base URL of the API (http://HOST:PORT).
	API string `json:"api"`
	// Artifacts is the base URL devices download from.
	Artifacts string    `json:"artifacts"`
	Started   time.Time `json:"started"`
}

// server is a running serve.
type server struct {
	cfg  Config
	log  *slog.Logger
	st   *rollout.Store
	auth *verifier
	// mux is serve's one HTTP mux (see routes): the API, the artifacts,
	// and later pages, all on the loopback listener.
	mux   *http.ServeMux
	base  string // artifact base URL
	conn  *rollout.Conn
	wg    sync.WaitGroup
	rctx  context.Context // ends at shutdown; engines run under it
	start time.Time
	up    atomic.Bool // set once the first connection is made and engines may run

	regMu   sync.Mutex // serialises registrations (check, then save)
	mu      sync.Mutex
	running map[string]*engineRun

	devs    *dashboard.Devices
	metrics *dashboard.Metrics
	tls     *tls.Config // of the API listener, if set
}

// engineRun is one rollout being driven.
type engineRun struct {
	reports chan *proto.Install
	done    chan struct{}
	abort   chan string // an operator's abort (see abortRollout)
	// cancel stops the current Run; with resend set the engine runs again
	// at once (see resync).
	cancel context.CancelFunc
	resend bool
}

// routed is the Fleet of one rollout: the shared connection, with the
// install reports of that rollout only.
type routed struct {
	*rollout.Conn
	ch chan *proto.Install
}

func (r routed) Reports() <-chan *proto.Install { return r.ch }

// Run serves until ctx ends (SIGINT/SIGTERM in the CLI), then stops every
// engine (each saves its rollout as interrupted, to be resumed at the next
// start), the listeners and the broker connection. ready, if set, is called
// once everything is up with what InfoFile says.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	if cfg.Trust == nil {
		return errors.New("serve: no host public key to authenticate deploys with")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := rollout.OpenStore(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	lock, err := filelock.Acquire(filepath.Join(st.Dir(), lockFile))
	if err != nil {
		return fmt.Errorf("serve: another serve owns %s: %w", st.Dir(), err)
	}
	defer lock.Release()
	// Uploads cut short by a crash are never resumed.
	if err := os.RemoveAll(filepath.Join(st.Dir(), uploadDir)); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s := &server{cfg: cfg, log: log, st: st, auth: newVerifier(cfg.Trust), mux: http.NewServeMux(),
		running: map[string]*engineRun{}, start: time.Now().UTC()}
	s.routes()
	if s.tls, err = s.apiTLS(); err != nil {
		return err
	}
	if err := s.addDashboard(); err != nil {
		return err
	}
	lns, err := s.listen()
	if err != nil {
		return err
	}
	if s.conn, err = s.dial(ctx); err != nil {
		closeAll(lns)
		if ctx.Err() != nil {
			return nil // stopped while waiting for the broker: nothing was running
		}
		return err
	}
	defer s.conn.Close()
	stopWatch, err := s.watchFleet(ctx)
	if err != nil {
		closeAll(lns)
		return err
	}
	defer stopWatch()
	rctx, stopEngines := context.WithCancel(ctx)
	defer stopEngines()
	s.rctx = rctx
	s.wg.Add(1)
	go s.dispatch(rctx)
	servers := s.serveHTTP(lns)
	s.resumeAll()
	s.up.Store(true)
	scheme := "http://"
	if s.tls != nil {
		scheme = "https://"
	}
	info := Info{PID: os.Getpid(), API: scheme + lns[0].Addr().String(), Artifacts: s.base, Started: s.start}
	if err := atomicfile.WriteFile(filepath.Join(st.Dir(), InfoFile), mustJSON(info)); err != nil {
		log.Error("cannot write serve info", "err", err)
	}
	log.Info("serving", "api", info.API, "artifacts", info.Artifacts, "state", st.Dir())
	if ready != nil {
		ready(info)
	}
	<-ctx.Done()
	log.Info("stopping: saving every running rollout")
	stopEngines()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}
	s.wg.Wait()
	os.Remove(filepath.Join(st.Dir(), InfoFile))
	return nil
}

// listen binds the API listener and, if configured, the artifact one, and
// fixes the advertised artifact base URL.
func (s *server) listen() ([]net.Listener, error) {
	api, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("serve: listen %s: %w", s.cfg.Listen, err)
	}
	lns := []net.Listener{api}
	artAddr := api.Addr().String()
	tlsOn := s.cfg.ArtifactTLS != nil
	if tlsOn && s.cfg.ArtifactListen == "" {
		api.Close()
		return nil, errors.New("serve: an artifact TLS certificate needs --artifact-listen (the API address stays plain, on loopback)")
	}
	if s.cfg.ArtifactListen != "" {
		art, err := net.Listen("tcp", s.cfg.ArtifactListen)
		if err != nil {
			api.Close()
			return nil, fmt.Errorf("serve: listen %s: %w", s.cfg.ArtifactListen, err)
		}
		artAddr = art.Addr().String()
		if tlsOn {
			art = tls.NewListener(art, s.cfg.ArtifactTLS)
		}
		lns = append(lns, art)
	}
	s.base = strings.TrimSuffix(s.cfg.Advertise, "/")
	if s.base != "" {
		if err := rollout.CheckAdvertise(s.base, tlsOn); err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("serve: %w", err)
		}
	} else {
		host, _, _ := net.SplitHostPort(artAddr)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			closeAll(lns)
			return nil, fmt.Errorf("serve: artifacts listen on every interface (%s): give the URL devices reach as --advertise", artAddr)
		}
		s.base = rollout.ArtifactScheme(tlsOn) + "://" + artAddr
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// serveHTTP serves the mux on the API listener and only the artifacts on
// the artifact one.
func (s *server) serveHTTP(lns []net.Listener) []*http.Server {
	var out []*http.Server
	for i, ln := range lns {
		var h http.Handler = s.mux
		if i > 0 {
			h = rollout.ArtifactHandler(s.st.ArtifactDir())
		} else if s.tls != nil {
			ln = tls.NewListener(ln, s.tls)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		out = append(out, srv)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	return out
}

// dial connects to the broker, retrying with backoff until ctx ends: a
// serve started before its broker waits for it. Once connected the client
// reconnects by itself.
func (s *server) dial(ctx context.Context) (*rollout.Conn, error) {
	cfg := s.cfg.Broker
	if cfg.ClientID == "" {
		cfg.ClientID = fmt.Sprintf("edgenas-serve-%d", os.Getpid())
	}
	cfg.OnConnect = func(paho.Client) {
		if s.up.Load() {
			s.resync()
		}
	}
	backoff := 500 * time.Millisecond
	for {
		c, err := rollout.Dial(ctx, cfg, s.log)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("serve: %w", ctx.Err())
		}
		s.log.Warn("broker unreachable; retrying", "broker", cfg.Broker, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("serve: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// dispatch hands each install report to the engine of its rollout; reports
// of rollouts not running here are dropped (the engine would ignore them).
func (s *server) dispatch(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.conn.Reports():
			s.mu.Lock()
			er := s.running[m.Rollout]
			s.mu.Unlock()
			if er == nil {
				continue
			}
			select {
			case er.reports <- m:
			case <-er.done:
			case <-ctx.Done():
				return
			}
		}
	}
}

// resumeAll starts an engine for every rollout that has not ended and whose
// artifact this serve can hand out.
func (s *server) resumeAll() {
	all, err := s.st.List()
	if err != nil {
		s.log.Error("cannot list rollouts to resume", "err", err)
		return
	}
	for _, r := range all {
		if ended(r) {
			continue
		}
		if err := s.servable(r); err != nil {
			s.log.Warn("not resuming rollout", "rollout", r.ID, "err", err)
			continue
		}
		s.launch(r)
	}
}

func ended(r *rollout.Rollout) bool {
	return r.Phase == rollout.PhaseDone || r.Phase == rollout.PhaseAborted
}

// servable checks that r's signed URL is this serve's and that its artifact
// is in the store.
func (s *server) servable(r *rollout.Rollout) error {
	if want := s.artifactURL(r.SHA256); r.URL != want {
		return fmt.Errorf("its manifest names %s, this serve hands out %s (resume it with `deploy --resume`, or serve with --advertise to match)",
			r.URL, want)
	}
	fi, err := os.Stat(filepath.Join(s.st.ArtifactDir(), r.SHA256))
	if err != nil || fi.Size() != r.Size {
		return fmt.Errorf("artifact %s missing from %s", r.SHA256, s.st.ArtifactDir())
	}
	return nil
}

func (s *server) artifactURL(sha string) string { return s.base + "/artifacts/" + sha }

// launch runs r's engine on its own goroutine until the rollout ends or
// serve stops. It reports false when r is already running.
func (s *server) launch(r *rollout.Rollout) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[r.ID]; ok {
		return false
	}
	er := &engineRun{reports: make(chan *proto.Install, 256), done: make(chan struct{}), abort: make(chan string, 1)}
	s.running[r.ID] = er
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.running, r.ID)
			s.mu.Unlock()
			close(er.done)
		}()
		err := s.drive(er, r)
		switch {
		case s.rctx.Err() != nil:
			s.log.Info("rollout interrupted by shutdown; resumes at the next start", "rollout", r.ID)
		case err != nil:
			s.log.Warn("rollout ended", "rollout", r.ID, "phase", r.Phase, "err", err)
		default:
			s.log.Info("rollout ended", "rollout", r.ID, "phase", r.Phase)
		}
	}()
	return true
}

// drive runs r's engine, again each time resync asks, until the rollout
// ends or serve stops.
func (s *server) drive(er *engineRun, r *rollout.Rollout) error {
	for {
		ctx, cancel := context.WithCancel(s.rctx)
		s.mu.Lock()
		er.cancel, er.resend = cancel, false
		s.mu.Unlock()
		s.log.Info("rollout running", "rollout", r.ID, "phase", r.Phase, "devices", len(r.Devices))
		err := rollout.Run(ctx, s.st, r, routed{Conn: s.conn, ch: er.reports}, rollout.Options{Tick: s.cfg.Tick, Logger: s.log, Abort: er.abort})
		cancel()
		s.mu.Lock()
		again := er.resend && s.rctx.Err() == nil && !ended(r)
		s.mu.Unlock()
		if !again {
			return err
		}
	}
}

// resync runs after the broker connection came back: install reports sent
// while it was down are lost (they are not retained), so every engine is
// restarted, which re-publishes the deploy to each device not yet final and
// makes it report again.
func (s *server) resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, er := range s.running {
		s.log.Info("broker reconnected: re-sending the rollout's deploys", "rollout", id)
		er.resend = true
		if er.cancel != nil {
			er.cancel()
		}
	}
}

// runningIDs lists the rollouts being driven now.
func (s *server) runningIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for id := range s.running {
		out = append(out, id)
	}
	return out
}
