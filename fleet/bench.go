package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/profiler"
)

// NewModelSpec defines a bench of whole models: each job carries group
// models (timed together, interleaved, as lut validate and evaluate do on
// the host), and each model is timed by replicas distinct agents of class.
// The models' URLs are filled in when the bench serves them.
func NewModelSpec(class string, models []proto.ModelRef, group, replicas, threads int, p profiler.Protocol) (RunSpec, error) {
	keys := make([]string, len(models))
	for i, m := range models {
		keys[i] = m.SHA256
	}
	spec := RunSpec{Run: NewRunID(), Space: "models", Class: class, Keys: keys, Chunk: group, Replicas: replicas,
		Threads: threads, Protocol: proto.FromProfiler(p), Created: time.Now().UTC(), Kind: proto.JobKindModels, Models: models}
	if err := spec.validate(); err != nil {
		return RunSpec{}, err
	}
	return spec, nil
}

// validateModels checks a bench's model list (a profile has none).
func (s RunSpec) validateModels() error {
	switch s.Kind {
	case "":
		if len(s.Models) > 0 {
			return fmt.Errorf("run %s: a profile of layer keys lists %d models", s.Run, len(s.Models))
		}
		return nil
	case proto.JobKindModels:
	default:
		return fmt.Errorf("run %s: kind %q unknown", s.Run, s.Kind)
	}
	if s.Chunk > proto.MaxModelsPerJob {
		return fmt.Errorf("run %s: %d models per job, at most %d", s.Run, s.Chunk, proto.MaxModelsPerJob)
	}
	if len(s.Models) != len(s.Keys) {
		return fmt.Errorf("run %s: %d models for %d keys", s.Run, len(s.Models), len(s.Keys))
	}
	seen := map[string]bool{}
	for i, m := range s.Models {
		if m.SHA256 != s.Keys[i] {
			return fmt.Errorf("run %s: model %d: key %s is not its sha256 %s", s.Run, i, s.Keys[i], m.SHA256)
		}
		if seen[m.SHA256] {
			return fmt.Errorf("run %s: model %s (%s) listed twice", s.Run, m.Name, m.SHA256)
		}
		seen[m.SHA256] = true
	}
	return nil
}

// addModels fills a model job's kind and models (those of its keys).
func (s RunSpec) addModels(j *proto.Job) {
	if s.Kind != proto.JobKindModels {
		return
	}
	by := make(map[string]proto.ModelRef, len(s.Models))
	for _, m := range s.Models {
		by[m.SHA256] = m
	}
	j.Kind = s.Kind
	for _, k := range j.Keys {
		j.Models = append(j.Models, by[k])
	}
}

// ModelSet is the content-addressed store of the models a bench serves:
// each file is kept under its sha256, so what agents fetch is what was added.
type ModelSet struct {
	store *rollout.Store
	refs  []proto.ModelRef
	index map[string]int
}

// NewModelSet opens (creating) a model set in dir.
func NewModelSet(dir string) (*ModelSet, error) {
	st, err := rollout.OpenStore(dir)
	if err != nil {
		return nil, fmt.Errorf("model set: %w", err)
	}
	return &ModelSet{store: st, index: map[string]int{}}, nil
}

// AddFile adds the model file at path under name and returns its sha256.
// The same content added twice is one model (the first name stays).
func (s *ModelSet) AddFile(name, path string) (string, error) {
	a, err := s.store.AddArtifact(path)
	if err != nil {
		return "", err
	}
	if a.Size > proto.MaxModelBytes {
		return "", fmt.Errorf("model %s: %d bytes, more than the %d a bench carries", name, a.Size, proto.MaxModelBytes)
	}
	if _, ok := s.index[a.SHA256]; !ok {
		s.index[a.SHA256] = len(s.refs)
		s.refs = append(s.refs, proto.ModelRef{Name: name, SHA256: a.SHA256, Size: a.Size})
	}
	return a.SHA256, nil
}

// AddBytes adds a model held in memory.
func (s *ModelSet) AddBytes(name string, b []byte) (string, error) {
	f, err := os.CreateTemp(s.store.Dir(), "model-*.tflite")
	if err != nil {
		return "", fmt.Errorf("model %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("model %s: %w", name, err)
	}
	return s.AddFile(name, f.Name())
}

// Len is how many distinct models the set holds.
func (s *ModelSet) Len() int { return len(s.refs) }

// BenchConfig configures a bench of whole models on a class's agents.
type BenchConfig struct {
	// Conn is the host's broker connection (its ClientID is ignored: each
	// connection gets its own).
	Conn  proto.ConnConfig
	Class string
	// Replicas is how many distinct agents time each model; 0 means every
	// agent of the class that is online when the bench starts.
	Replicas int
	// Group is how many models a job carries, timed together (default 5).
	Group    int
	Threads  int
	Protocol profiler.Protocol
	// Listen is the artifact server's address (default 127.0.0.1:0);
	// Advertise the base URL agents fetch from (default: derived from Listen).
	Listen, Advertise string
	// Dir keeps the served models and the job table.
	Dir string
	// Lease and Timeout are as in Config; Discover is how long to collect
	// the class's agents when Replicas is 0 (default 1 s); Stall ends the
	// bench when its pending jobs found no agent that long (default three
	// leases), say when an agent of a replicas-0 bench dropped out for good.
	Lease, Timeout, Discover, Stall time.Duration
	ToolVersion                     string
	Progress                        io.Writer
	Logger                          *slog.Logger
}

// DeviceTiming is one model timed on one device.
type DeviceTiming struct {
	Device     string              `json:"device"`
	Millis     float64             `json:"ms"`
	CIRel      float64             `json:"ci_rel"`
	Unstable   bool                `json:"unstable,omitempty"`
	Conditions profiler.Conditions `json:"conditions"`
}

// ModelTiming is one model's timings on every device that ran it, and the
// class figure: the median over devices.
type ModelTiming struct {
	Name    string         `json:"name"`
	SHA256  string         `json:"sha256"`
	ClassMs float64        `json:"class_ms"`
	Devices []DeviceTiming `json:"devices"`
}

// BenchReport is a bench's outcome.
type BenchReport struct {
	Run      string        `json:"run"`
	Class    string        `json:"class"`
	Replicas int           `json:"replicas"`
	Devices  []string      `json:"devices"`
	Models   []ModelTiming `json:"models"`
	Summary  Summary       `json:"summary"`
}

// Source names where the report's figures were measured.
func (r *BenchReport) Source() string {
	return fmt.Sprintf("fleet class %s (devices %v)", r.Class, r.Devices)
}

// Bench serves the set's models over HTTP and has the class's agents time
// them (see NewModelSpec); the report lists every model per device and per
// class. An agent that drops out mid-job has its jobs re-leased as in a
// profile; a model an agent cannot verify is refused there and reported
// here as a failed job.
func Bench(ctx context.Context, cfg BenchConfig, set *ModelSet) (*BenchReport, error) {
	if set.Len() == 0 {
		return nil, errors.New("bench: no models")
	}
	if cfg.Dir == "" {
		return nil, errors.New("bench: no directory for the job table")
	}
	if cfg.Group <= 0 {
		cfg.Group = 5
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		n, err := onlineAgents(ctx, cfg)
		if err != nil {
			return nil, err
		}
		replicas = n
	}
	srv, err := set.store.Serve(cfg.Listen, cfg.Advertise, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(sctx)
	}()
	refs := append([]proto.ModelRef(nil), set.refs...)
	for i := range refs {
		refs[i].URL = srv.URL(refs[i].SHA256)
	}
	spec, err := NewModelSpec(cfg.Class, refs, min(cfg.Group, proto.MaxModelsPerJob), replicas, cfg.Threads, cfg.Protocol)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 3 * cfg.Lease
	}
	h, err := NewHost(Config{Broker: cfg.Conn.Broker, Username: cfg.Conn.Username, Password: cfg.Conn.Password, TLS: cfg.Conn.TLS, Spec: spec,
		Journal: filepath.Join(cfg.Dir, spec.Run+".jobs"), Lease: cfg.Lease, Timeout: cfg.Timeout, Stall: cfg.Stall,
		ToolVersion: cfg.ToolVersion, Progress: cfg.Progress, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	sum, runErr := h.Run(ctx)
	rep := benchReport(spec, sum)
	if runErr != nil {
		return rep, fmt.Errorf("bench: %w", runErr)
	}
	return rep, nil
}

// onlineAgents counts the class's agents that announce themselves online.
func onlineAgents(ctx context.Context, cfg BenchConfig) (int, error) {
	wait := cfg.Discover
	if wait <= 0 {
		wait = time.Second
	}
	conn := cfg.Conn
	conn.ClientID = ""
	rows, err := List(ctx, conn, cfg.Class, wait, cfg.Logger)
	if err != nil {
		return 0, fmt.Errorf("bench: find the agents of class %s: %w", cfg.Class, err)
	}
	n := 0
	for _, r := range rows {
		if r.State == proto.StateOnline || r.State == proto.StateBusy {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("bench: no agent of class %s is online", cfg.Class)
	}
	return n, nil
}

// benchReport groups a bench's timings by model, in the spec's order.
func benchReport(spec RunSpec, sum Summary) *BenchReport {
	rep := &BenchReport{Run: spec.Run, Class: spec.Class, Replicas: spec.Replicas, Summary: sum}
	by := map[string][]DeviceTiming{}
	devs := map[string]bool{}
	for _, e := range sum.Timings {
		by[e.Key] = append(by[e.Key], DeviceTiming{Device: e.Device, Millis: e.Millis(), CIRel: e.CIRel, Unstable: e.Unstable,
			Conditions: e.Conditions})
		devs[e.Device] = true
	}
	for d := range devs {
		rep.Devices = append(rep.Devices, d)
	}
	sort.Strings(rep.Devices)
	for _, m := range spec.Models {
		dt := by[m.SHA256]
		sort.Slice(dt, func(a, b int) bool { return dt[a].Device < dt[b].Device })
		mt := ModelTiming{Name: m.Name, SHA256: m.SHA256, Devices: dt}
		if len(dt) > 0 {
			us := make([]float64, len(dt))
			for i, d := range dt {
				us[i] = d.Millis * 1000
			}
			mt.ClassMs = profiler.SummarizeMicros(us).P50 / 1000
		}
		rep.Models = append(rep.Models, mt)
	}
	return rep
}

// checkStall ends a run (with Config.Stall set) whose pending jobs no
// online agent of the class could take for Stall: none is online, or each
// already holds or did another replica of them (mu held).
func (h *Host) checkStall(now time.Time, online []string, leasedNow int) error {
	if h.cfg.Stall <= 0 || h.tab.count[Pending] == 0 || h.tab.count[Leased] > 0 || leasedNow > 0 {
		h.stalled = time.Time{}
		return nil
	}
	if h.stalled.IsZero() {
		h.stalled = now
		return nil
	}
	if now.Sub(h.stalled) < h.cfg.Stall {
		return nil
	}
	class := h.tab.spec.Class
	if len(h.tab.spec.Tags) > 0 {
		class += " tagged " + proto.FormatTags(h.tab.spec.Tags)
	}
	return fmt.Errorf("fleet: run %s: %d jobs found no agent of class %s for %s (each needs %d distinct agents; online: %v)",
		h.tab.spec.Run, h.tab.count[Pending], class, h.cfg.Stall.Round(time.Second), h.tab.spec.Replicas, online)
}
