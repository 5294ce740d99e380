// Package fleet is the host side of fleet profiling: it splits a search
// space's microbenchmarks into jobs, hands them to the online agents of a
// device class under leases, tracks them through agent restarts, broker
// restarts and its own restarts (a journaled job table), and ingests results
// idempotently into a LUT store. docs/protocol.md states the rules.
package fleet

import (
	"fmt"
	"maps"
	"sort"
	"time"

	"edgenas/agent/proto"
)

// RunSpec defines one fleet profile. It is the first record of the journal;
// a restarted host must be given the same definition to resume.
type RunSpec struct {
	Run      string         `json:"run"`
	Space    string         `json:"space"`
	Class    string         `json:"class"`
	Keys     []string       `json:"keys"`
	Chunk    int            `json:"chunk"`
	Replicas int            `json:"replicas"`
	Threads  int            `json:"threads"`
	Protocol proto.Protocol `json:"protocol"`
	Created  time.Time      `json:"created"`
	// Kind is "" for a profile of layer keys, proto.JobKindModels for a
	// bench of whole models: Keys are then the models' sha256 and Models
	// says where agents fetch them (see NewModelSpec).
	Kind   string           `json:"kind,omitempty"`
	Models []proto.ModelRef `json:"models,omitempty"`
	// Tags, when set, narrow the class: only agents whose info carries every
	// tag (agent --tag) get jobs (fleet profile --tag).
	Tags map[string]string `json:"tags,omitempty"`
}

func (s RunSpec) validate() error {
	if err := proto.ValidJobID(s.Run); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := proto.ValidID(s.Class); err != nil {
		return fmt.Errorf("class: %w", err)
	}
	if err := proto.ValidTags(s.Tags); err != nil {
		return fmt.Errorf("run %s: tags: %w", s.Run, err)
	}
	if len(s.Keys) == 0 {
		return fmt.Errorf("run %s: no keys to measure", s.Run)
	}
	if s.Chunk < 1 || s.Chunk > proto.MaxKeysPerJob {
		return fmt.Errorf("run %s: chunk %d out of 1..%d", s.Run, s.Chunk, proto.MaxKeysPerJob)
	}
	if s.Replicas < 1 {
		return fmt.Errorf("run %s: replicas %d, want >= 1", s.Run, s.Replicas)
	}
	if s.Threads < 1 {
		return fmt.Errorf("run %s: threads %d, want >= 1", s.Run, s.Threads)
	}
	return s.validateModels()
}

// sameDefinition reports whether two specs describe the same work (the
// journal's and a restarted command's).
func (s RunSpec) sameDefinition(o RunSpec) error {
	if s.Kind != o.Kind {
		return fmt.Errorf("journal is run %s of kind %q, this one %q", s.Run, s.Kind, o.Kind)
	}
	if s.Space != o.Space || s.Class != o.Class || s.Chunk != o.Chunk || s.Replicas != o.Replicas || s.Threads != o.Threads {
		return fmt.Errorf("journal is run %s of space %s, class %s, chunk %d, replicas %d, threads %d",
			s.Run, s.Space, s.Class, s.Chunk, s.Replicas, s.Threads)
	}
	if !maps.Equal(s.Tags, o.Tags) {
		return fmt.Errorf("journal is run %s over agents tagged %q, this one %q", s.Run, proto.FormatTags(s.Tags), proto.FormatTags(o.Tags))
	}
	if len(s.Keys) != len(o.Keys) {
		return fmt.Errorf("journal run %s has %d keys, this profile %d", s.Run, len(s.Keys), len(o.Keys))
	}
	for i := range s.Keys {
		if s.Keys[i] != o.Keys[i] {
			return fmt.Errorf("journal run %s key %d is %s, this profile's is %s", s.Run, i, s.Keys[i], o.Keys[i])
		}
	}
	return nil
}

// JobState is where a job is in its life.
type JobState int

// Job states.
const (
	Pending JobState = iota // waiting for an agent
	Leased                  // handed to an agent, lease running
	Done                    // a result was ingested
	Failed                  // failed MaxFailures times
)

func (s JobState) String() string {
	return [...]string{"pending", "leased", "done", "failed"}[s]
}

// MaxFailures is how many error results fail a job for good.
const MaxFailures = 3

// job is one row of the job table.
type job struct {
	ID       string
	Chunk    int
	Replica  int
	Keys     []string
	State    JobState
	Attempt  int
	Agent    string    // lease holder, or who completed it
	Expires  time.Time // lease end
	SentAt   time.Time // last time the job message went out
	Failures int
	LastErr  string
	// holders are the agents ever handed this job: only their results count.
	holders map[string]bool
	// sent is when each attempt first went out (job-to-result latency).
	sent map[int]time.Time
	idx  int
	// leasedTo is the holder recorded in table.leased (Agent may be
	// overwritten by whoever completes the job).
	leasedTo string
}

func (j *job) hold(agent string) {
	if j.holders == nil {
		j.holders = map[string]bool{}
	}
	j.holders[agent] = true
}

// table is the job table: a pure state machine (no I/O, no clock of its
// own), driven by the host's event loop.
type table struct {
	spec  RunSpec
	jobs  []*job
	byID  map[string]*job
	count [4]int
	// byChunk lists a chunk's replicas, so one device never measures the
	// same keys twice.
	byChunk map[int][]*job
	// leased indexes leases by agent; firstPending is a lower bound on the
	// index of the first pending job. Both keep the event loop O(changes)
	// rather than O(jobs) per message with thousands of agents.
	leased       map[string]map[*job]bool
	firstPending int
}

func newTable(spec RunSpec) (*table, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	t := &table{spec: spec, byID: map[string]*job{}, byChunk: map[int][]*job{}, leased: map[string]map[*job]bool{}}
	for c, start := 0, 0; start < len(spec.Keys); c, start = c+1, start+spec.Chunk {
		keys := spec.Keys[start:min(start+spec.Chunk, len(spec.Keys))]
		for r := 0; r < spec.Replicas; r++ {
			j := &job{ID: fmt.Sprintf("%s.%05d.r%d", spec.Run, c, r), Chunk: c, Replica: r, Keys: keys, idx: len(t.jobs)}
			t.jobs = append(t.jobs, j)
			t.byID[j.ID] = j
			t.byChunk[c] = append(t.byChunk[c], j)
		}
	}
	t.count[Pending] = len(t.jobs)
	return t, nil
}

func (t *table) set(j *job, s JobState) {
	if j.State == Leased {
		delete(t.leased[j.leasedTo], j)
	}
	t.count[j.State]--
	j.State = s
	t.count[s]++
	switch s {
	case Leased:
		if t.leased[j.Agent] == nil {
			t.leased[j.Agent] = map[*job]bool{}
		}
		t.leased[j.Agent][j] = true
		j.leasedTo = j.Agent
	case Pending:
		t.firstPending = min(t.firstPending, j.idx)
	}
}

// finished reports whether every job is done or failed.
func (t *table) finished() bool { return t.count[Done]+t.count[Failed] == len(t.jobs) }

// conflicts reports whether agent completed or holds another replica of j's chunk.
func (t *table) conflicts(j *job, agent string) bool {
	for _, o := range t.byChunk[j.Chunk] {
		if o != j && o.Agent == agent && (o.State == Done || o.State == Leased) {
			return true
		}
	}
	return false
}

// assign leases the next pending job agent may take, or returns nil.
func (t *table) assign(agent string, now time.Time, lease time.Duration) *job {
	for t.firstPending < len(t.jobs) && t.jobs[t.firstPending].State != Pending {
		t.firstPending++
	}
	for _, j := range t.jobs[t.firstPending:] {
		if j.State != Pending || t.conflicts(j, agent) {
			continue
		}
		j.Attempt++
		j.Agent, j.Expires, j.SentAt = agent, now.Add(lease), now
		j.hold(agent)
		j.markSent(now)
		t.set(j, Leased)
		return j
	}
	return nil
}

// held lists the jobs leased to agent.
func (t *table) held(agent string) []*job {
	out := make([]*job, 0, len(t.leased[agent]))
	for j := range t.leased[agent] {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].idx < out[b].idx })
	return out
}

// markSent records when the current attempt first went out.
func (j *job) markSent(now time.Time) {
	if j.sent == nil {
		j.sent = map[int]time.Time{}
	}
	if _, ok := j.sent[j.Attempt]; !ok {
		j.sent[j.Attempt] = now
	}
}

// latency is the time from attempt's first send to now (ok false if unknown).
func (j *job) latency(attempt int, now time.Time) (time.Duration, bool) {
	at, ok := j.sent[attempt]
	return now.Sub(at), ok
}

// leasedJobs lists every leased job.
func (t *table) leasedJobs() []*job {
	var out []*job
	for _, m := range t.leased {
		for j := range m {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].idx < out[b].idx })
	return out
}

// heartbeat applies an agent's status: leases of jobs it lists are renewed,
// pending jobs it is working on (after a host restart) are adopted, and
// leased jobs it does not know, sent more than grace ago, are returned to be
// sent again.
func (t *table) heartbeat(agent string, listed []string, now time.Time, lease, grace time.Duration) (resend []*job) {
	in := map[string]bool{}
	for _, id := range listed {
		in[id] = true
		if j, ok := t.byID[id]; ok && j.State == Pending && !t.conflicts(j, agent) {
			if j.Attempt == 0 {
				j.Attempt = 1
			}
			j.Agent, j.SentAt, j.Expires = agent, now, now.Add(lease)
			j.hold(agent)
			t.set(j, Leased)
			j.markSent(now)
		}
	}
	for _, j := range t.held(agent) {
		switch {
		case in[j.ID]:
			j.Expires = now.Add(lease)
		case now.Sub(j.SentAt) > grace:
			j.SentAt = now
			resend = append(resend, j)
		}
	}
	return resend
}

// expire returns leases that ran out to pending.
func (t *table) expire(now time.Time) (expired []*job) {
	for _, j := range t.leasedJobs() {
		if j.State == Leased && now.After(j.Expires) {
			t.set(j, Pending)
			expired = append(expired, j)
		}
	}
	return expired
}

// release returns every lease of agent to pending (it went offline).
func (t *table) release(agent string) []*job {
	held := t.held(agent)
	for _, j := range held {
		t.set(j, Pending)
	}
	return held
}

// verdict is what the table says about an incoming result.
type verdict struct {
	job     *job
	outcome string // proto.Ack* outcome if the result is not to be ingested
	reason  string
}

// judge decides whether a (valid) result completes a job. An empty outcome
// means: ingest it, then call complete.
func (t *table) judge(r *proto.Result) verdict {
	j, ok := t.byID[r.Job]
	if !ok || r.Run != t.spec.Run {
		return verdict{outcome: proto.AckRejected, reason: "unknown job"}
	}
	switch j.State {
	case Done:
		return verdict{job: j, outcome: proto.AckDuplicate, reason: "already ingested from " + j.Agent}
	case Failed:
		return verdict{job: j, outcome: proto.AckDuplicate, reason: "job already failed"}
	}
	if r.Class != t.spec.Class {
		return verdict{job: j, outcome: proto.AckRejected, reason: fmt.Sprintf("agent %s is of class %q, run %s measures class %s", r.Agent, r.Class, t.spec.Run, t.spec.Class)}
	}
	if !j.holders[r.Agent] {
		return verdict{job: j, outcome: proto.AckRejected, reason: "job " + j.ID + " was never handed to " + r.Agent}
	}
	if t.conflicts(j, r.Agent) {
		for _, o := range t.byChunk[j.Chunk] {
			if o != j && o.Agent == r.Agent && o.State == Done {
				return verdict{job: j, outcome: proto.AckDuplicate, reason: "agent already measured these keys for " + o.ID}
			}
		}
	}
	if r.Error != "" {
		return verdict{job: j}
	}
	want := map[string]bool{}
	for _, k := range j.Keys {
		want[k] = true
	}
	if len(r.Results) != len(want) {
		return verdict{job: j, outcome: proto.AckRejected, reason: fmt.Sprintf("%d measurements for a job of %d keys", len(r.Results), len(want))}
	}
	for _, m := range r.Results {
		if !want[m.Key] {
			return verdict{job: j, outcome: proto.AckRejected, reason: "key " + m.Key + " is not in the job"}
		}
	}
	return verdict{job: j}
}

// complete marks j done by agent.
func (t *table) complete(j *job, agent string) {
	j.Agent = agent
	t.set(j, Done)
}

// fail records an error result; after MaxFailures the job fails for good.
func (t *table) fail(j *job, agent, msg string) (final bool) {
	j.Failures++
	j.LastErr = agent + ": " + msg
	if j.Failures >= MaxFailures {
		t.set(j, Failed)
		return true
	}
	if j.State == Leased {
		t.set(j, Pending)
	}
	return false
}

// Counts summarises the table.
type Counts struct {
	Jobs    int `json:"jobs"`
	Pending int `json:"pending"`
	Leased  int `json:"leased"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
}

func (t *table) counts() Counts {
	return Counts{Jobs: len(t.jobs), Pending: t.count[Pending], Leased: t.count[Leased], Done: t.count[Done], Failed: t.count[Failed]}
}

// keysDone counts keys of done jobs (each replica counts).
func (t *table) keysDone() int {
	n := 0
	for _, j := range t.jobs {
		if j.State == Done {
			n += len(j.Keys)
		}
	}
	return n
}

// failures lists failed jobs with their last error, sorted.
func (t *table) failures() []string {
	var out []string
	for _, j := range t.jobs {
		if j.State == Failed {
			out = append(out, j.ID+": "+j.LastErr)
		}
	}
	sort.Strings(out)
	return out
}
