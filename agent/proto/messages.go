package proto

import (
	"time"

	"edgenas/profiler"
)

// QoS is the MQTT quality of service used for every message: at least once.
// Duplicates are expected and harmless (ids make every receiver idempotent);
// exactly-once is not relied upon because no result may depend on the broker
// keeping a session.
const QoS = 1

// Agent states carried by Status.
const (
	StateOnline  = "online"  // connected and idle
	StateBusy    = "busy"    // connected and running a job
	StateOffline = "offline" // the last will, or a clean shutdown
)

// Header starts every message: the protocol version and the message kind.
type Header struct {
	V    int    `json:"v"`
	Type string `json:"type"`
}

// Info is an agent's identity and device description, published retained on
// connect.
type Info struct {
	Header
	Agent        string    `json:"agent"`
	Class        string    `json:"class"`
	AgentVersion string    `json:"agent_version"`
	Hostname     string    `json:"hostname,omitempty"`
	OS           string    `json:"os"`
	Platform     string    `json:"platform,omitempty"`
	PlatformVer  string    `json:"platform_version,omitempty"`
	Kernel       string    `json:"kernel,omitempty"`
	Arch         string    `json:"arch"`
	CPUModel     string    `json:"cpu_model,omitempty"`
	Cores        int       `json:"cores"`
	LogicalCPUs  int       `json:"logical_cpus"`
	FreqMHz      float64   `json:"freq_mhz,omitempty"`
	FreqMaxMHz   float64   `json:"freq_max_mhz,omitempty"`
	MemTotalMB   uint64    `json:"mem_total_mb,omitempty"`
	TempC        float64   `json:"temp_c,omitempty"`
	Backends     []string  `json:"backends"`
	Backend      string    `json:"backend"`
	Time         time.Time `json:"time"`

	// CoreClusters groups the CPUs by maximum frequency, fastest first
	// (big.LITTLE phones: prime, big, little); empty without cpufreq.
	CoreClusters []profiler.CoreCluster `json:"core_clusters,omitempty"`
	// PinnedCPUs are the CPUs the agent measures on (agent --cpus).
	PinnedCPUs []int `json:"pinned_cpus,omitempty"`
	// Trust is the set of host keys the agent accepts deploys from.
	Trust *TrustInfo `json:"trust,omitempty"`
	// Tags are the operator's labels for the device (agent --tag, e.g.
	// soc=tensor-g1); deploys and profiling runs select agents by them.
	Tags map[string]string `json:"tags,omitempty"`
}

// TrustInfo is what an agent says of its trusted host keys, so the host can
// tell which devices have a rotation.
type TrustInfo struct {
	// Serial is the serial of the last rotation applied (0: the key the
	// agent was provisioned with).
	Serial uint64 `json:"serial"`
	// Keys are the key ids (signing.KeyID) of the trusted keys.
	Keys []string `json:"keys"`
	// Refused is why the last rotation handed to the agent was refused, if
	// it was.
	Refused string `json:"refused,omitempty"`
}

// Status is an agent's liveness, published retained on connect, on every
// state change, and every heartbeat; the host renews the leases of the jobs
// an agent holds on each one.
type Status struct {
	Header
	Agent string `json:"agent"`
	Class string `json:"class"`
	State string `json:"state"`
	// Job is the job being measured ("" when idle); Queued are accepted jobs
	// waiting behind it.
	Job    string   `json:"job,omitempty"`
	Queued []string `json:"queued,omitempty"`
	// Done/Total are the keys finished of the current job.
	Done  int `json:"done,omitempty"`
	Total int `json:"total,omitempty"`
	// Unacked is how many results wait on disk for the host's ack.
	Unacked int       `json:"unacked"`
	Time    time.Time `json:"time"`
}

// Protocol is profiler.Protocol on the wire: the host fixes it so every
// device measures by the same rule.
type Protocol struct {
	WarmupRuns      int     `json:"warmup_runs"`
	WarmupSecs      float64 `json:"warmup_secs"`
	MinRuns         int     `json:"min_runs"`
	MinSecs         float64 `json:"min_secs"`
	MaxSecs         float64 `json:"max_secs"`
	RelTol          float64 `json:"rel_tol"`
	Level           float64 `json:"level"`
	MinSampleMicros float64 `json:"min_sample_micros"`
	Seed            uint64  `json:"seed"`
}

// FromProfiler converts a profiler protocol to its wire form.
func FromProfiler(p profiler.Protocol) Protocol {
	return Protocol{p.WarmupRuns, p.WarmupSecs, p.MinRuns, p.MinSecs, p.MaxSecs, p.RelTol, p.Level, p.MinSampleMicros, p.Seed}
}

// Profiler converts the wire protocol back.
func (p Protocol) Profiler() profiler.Protocol {
	return profiler.Protocol{WarmupRuns: p.WarmupRuns, WarmupSecs: p.WarmupSecs, MinRuns: p.MinRuns, MinSecs: p.MinSecs,
		MaxSecs: p.MaxSecs, RelTol: p.RelTol, Level: p.Level, MinSampleMicros: p.MinSampleMicros, Seed: p.Seed}
}

// Job asks one agent to measure some latency-table keys. (ID, Attempt)
// names one lease of the job: a job re-handed to another agent after its
// lease ran out gets a new attempt number.
type Job struct {
	Header
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	// Run names the fleet profile the job belongs to.
	Run      string    `json:"run"`
	Keys     []string  `json:"keys"`
	Threads  int       `json:"threads"`
	Protocol Protocol  `json:"protocol"`
	Sent     time.Time `json:"sent"`
	// Kind is "" for latency-table keys and JobKindModels for whole models
	// (Models then lists them, in the order of Keys).
	Kind   string     `json:"kind,omitempty"`
	Models []ModelRef `json:"models,omitempty"`
}

// Result returns a job's measurements, or the error that stopped it. The
// agent keeps it on disk and re-sends it until acknowledged.
type Result struct {
	Header
	Agent   string `json:"agent"`
	Class   string `json:"class"`
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
	Run     string `json:"run"`
	// Seq numbers the agent's results (persisted, monotonic per data dir).
	Seq      uint64                 `json:"seq"`
	Backend  string                 `json:"backend"`
	Results  []profiler.LayerResult `json:"results,omitempty"`
	Error    string                 `json:"error,omitempty"`
	Started  time.Time              `json:"started"`
	Finished time.Time              `json:"finished"`
}

// Ack outcomes.
const (
	AckStored    = "stored"    // ingested now
	AckDuplicate = "duplicate" // already ingested (this or another attempt): nothing changed
	AckRejected  = "rejected"  // will never be ingested (invalid); do not resend
	AckFailed    = "failed"    // the job's error was recorded
)

// Ack tells an agent to forget a result: whatever the outcome, resending it
// would change nothing.
type Ack struct {
	Header
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
}

func header(kind string) Header { return Header{V: Version, Type: kind} }

// Stamp sets the version and type of a message before it is sent.
func Stamp(m any) {
	switch m := m.(type) {
	case *Info:
		m.Header = header(KindInfo)
	case *Status:
		m.Header = header(KindStatus)
	case *Job:
		m.Header = header(KindJob)
	case *Result:
		m.Header = header(KindResult)
	case *Ack:
		m.Header = header(KindAck)
	case *Deploy:
		m.Header = header(KindDeploy)
	case *Install:
		m.Header = header(KindInstall)
	case *Keys:
		m.Header = header(KindKeys)
	}
}
