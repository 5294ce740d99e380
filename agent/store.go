package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
)

// store is the agent's durable state under its data dir: accepted jobs not
// yet finished (jobs/), results not yet acknowledged (outbox/), the result
// sequence counter (seq), and install reports not yet delivered
// (installs/outbox/; the model store itself is agent/install's). Every write is atomic, so a SIGKILL leaves
// either the old file or the new one.
type store struct {
	dir string

	mu         sync.Mutex
	seq        uint64
	outbox     map[string]outboxEntry // by job id
	installSeq uint64                 // last install report file number
}

type outboxEntry struct {
	job     string
	attempt int
	seq     uint64
	payload []byte
	sent    time.Time // last publish attempt (zero: never, or since restart)
}

func fileName(job string, attempt int) string { return job + "." + strconv.Itoa(attempt) + ".json" }

func openStore(dir string) (*store, []string, error) {
	s := &store{dir: dir, outbox: map[string]outboxEntry{}}
	for _, sub := range []string{"jobs", "outbox"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, nil, fmt.Errorf("data dir: %w", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "seq")); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("data dir: seq file: %w", err)
		}
		s.seq = v
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	var warnings []string
	entries, err := os.ReadDir(filepath.Join(dir, "outbox"))
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, "outbox", e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: %w", err)
		}
		var r proto.Result
		if err := json.Unmarshal(b, &r); err != nil || r.Job == "" {
			warnings = append(warnings, fmt.Sprintf("outbox: %s is unreadable (%v); moved aside", e.Name(), err))
			os.Rename(p, p+".bad")
			continue
		}
		s.outbox[r.Job] = outboxEntry{job: r.Job, attempt: r.Attempt, seq: r.Seq, payload: b}
		s.seq = max(s.seq, r.Seq)
	}
	return s, warnings, nil
}

// nextSeq reserves the next result sequence number durably.
func (s *store) nextSeq() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "seq"), []byte(strconv.FormatUint(s.seq, 10)+"\n")); err != nil {
		return 0, err
	}
	return s.seq, nil
}

// saveJob records an accepted job so a restarted agent resumes it.
func (s *store) saveJob(j *proto.Job) error {
	b, err := proto.Encode(j)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, "jobs", fileName(j.ID, j.Attempt)), b)
}

func (s *store) removeJob(j *proto.Job) {
	os.Remove(filepath.Join(s.dir, "jobs", fileName(j.ID, j.Attempt)))
}

// loadJobs returns the accepted, unfinished jobs in the order they were sent.
func (s *store) loadJobs() ([]*proto.Job, []string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "jobs"))
	if err != nil {
		return nil, nil, fmt.Errorf("jobs: %w", err)
	}
	var jobs []*proto.Job
	var warnings []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(s.dir, "jobs", e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("jobs: %w", err)
		}
		var j proto.Job
		if err := json.Unmarshal(b, &j); err != nil || j.ID == "" {
			warnings = append(warnings, fmt.Sprintf("jobs: %s is unreadable (%v); moved aside", e.Name(), err))
			os.Rename(p, p+".bad")
			continue
		}
		jobs = append(jobs, &j)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].Sent.Equal(jobs[b].Sent) {
			return jobs[a].Sent.Before(jobs[b].Sent)
		}
		return jobs[a].ID < jobs[b].ID
	})
	return jobs, warnings, nil
}

// putResult writes a result to the outbox (durably, before it is ever
// published) and returns its payload.
func (s *store) putResult(r *proto.Result) ([]byte, error) {
	b, err := proto.Encode(r)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "outbox", fileName(r.Job, r.Attempt)), b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if old, ok := s.outbox[r.Job]; ok && old.attempt != r.Attempt {
		os.Remove(filepath.Join(s.dir, "outbox", fileName(old.job, old.attempt)))
	}
	s.outbox[r.Job] = outboxEntry{job: r.Job, attempt: r.Attempt, seq: r.Seq, payload: b}
	s.mu.Unlock()
	return b, nil
}

// ack forgets the result of (job, attempt); it reports whether one was held.
func (s *store) ack(job string, attempt int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.outbox[job]
	if !ok || e.attempt != attempt {
		return false
	}
	delete(s.outbox, job)
	os.Remove(filepath.Join(s.dir, "outbox", fileName(job, attempt)))
	return true
}

// result returns the held result of a job, if any.
func (s *store) result(job string) (outboxEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.outbox[job]
	return e, ok
}

// unacked lists held results, oldest first.
func (s *store) unacked() []outboxEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]outboxEntry, 0, len(s.outbox))
	for _, e := range s.outbox {
		out = append(out, e)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
	return out
}

func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.outbox)
}

// markSent records a publish attempt of a job's result.
func (s *store) markSent(job string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.outbox[job]; ok {
		e.sent = at
		s.outbox[job] = e
	}
}

// Install reports wait in installs/outbox/ until the broker acknowledges
// them, named by a counter so they are re-sent in the order they happened.
func (s *store) installDir() string { return filepath.Join(s.dir, "installs", "outbox") }

// putInstall persists one encoded install report and returns its file name.
func (s *store) putInstall(payload []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.installDir(), 0o755); err != nil {
		return "", fmt.Errorf("install outbox: %w", err)
	}
	if s.installSeq == 0 {
		for _, n := range s.pendingInstallsLocked() {
			v, _ := strconv.ParseUint(strings.TrimSuffix(n, ".json"), 10, 64)
			s.installSeq = max(s.installSeq, v)
		}
	}
	s.installSeq++
	name := fmt.Sprintf("%020d.json", s.installSeq)
	if err := atomicfile.WriteFile(filepath.Join(s.installDir(), name), payload); err != nil {
		return "", fmt.Errorf("install outbox: %w", err)
	}
	return name, nil
}

// pendingInstalls lists unsent install reports, oldest first.
func (s *store) pendingInstalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingInstallsLocked()
}

func (s *store) pendingInstallsLocked() []string {
	entries, _ := os.ReadDir(s.installDir())
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out) // zero-padded counters sort in order
	return out
}

func (s *store) readInstall(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.installDir(), name))
}

func (s *store) removeInstall(name string) {
	os.Remove(filepath.Join(s.installDir(), name))
}
