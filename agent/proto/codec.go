package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"edgenas/profiler"
)

// ErrRejected wraps every reason an incoming payload is refused, so callers
// can log it and move on without treating it as a fault of their own.
var ErrRejected = errors.New("rejected")

func reject(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, a...))
}

// Encode stamps m's header and marshals it. m is a pointer to one of the
// message types.
func Encode(m any) ([]byte, error) {
	Stamp(m)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", m, err)
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("encode %T: %d bytes exceeds the %d-byte payload limit", m, len(b), MaxPayload)
	}
	return b, nil
}

// Decode validates a payload received on topic and returns the message as a
// pointer to its type (*Info, *Status, *Result, *Job, *Ack, *Deploy or
// *Install). Any payload
// that is oversized, not JSON, of another protocol version, of a type that
// does not match its topic, or with missing or out-of-range fields gives an
// error wrapping ErrRejected and naming the reason; nothing is returned.
func Decode(topic string, payload []byte) (any, error) {
	agent, kind, err := ParseTopic(topic)
	if err != nil {
		return nil, reject("%v", err)
	}
	if len(payload) > MaxPayload {
		return nil, reject("%s: payload of %d bytes exceeds %d", topic, len(payload), MaxPayload)
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		// An empty retained payload clears a retained message; it carries nothing.
		return nil, reject("%s: empty payload", topic)
	}
	var h Header
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, reject("%s: not a JSON message: %v", topic, err)
	}
	if h.V != Version {
		return nil, reject("%s: protocol version %d, want %d", topic, h.V, Version)
	}
	if h.Type != kind {
		return nil, reject("%s: message type %q on a %q topic", topic, h.Type, kind)
	}
	var m interface{ validate(agent string) error }
	switch kind {
	case KindInfo:
		m = &Info{}
	case KindStatus:
		m = &Status{}
	case KindResult:
		m = &Result{}
	case KindJob:
		m = &Job{}
	case KindAck:
		m = &Ack{}
	case KindDeploy:
		m = &Deploy{}
	case KindInstall:
		m = &Install{}
	case KindKeys:
		m = &Keys{}
	}
	if err := json.Unmarshal(payload, m); err != nil {
		return nil, reject("%s: %v", topic, err)
	}
	if err := m.validate(agent); err != nil {
		return nil, reject("%s: %v", topic, err)
	}
	return m, nil
}

func sameAgent(field, topicAgent string) error {
	if field != topicAgent {
		return fmt.Errorf("agent %q in the payload does not match the topic's %q", field, topicAgent)
	}
	return nil
}

func checkLen(name, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s is %d bytes, more than %d", name, len(s), max)
	}
	return nil
}

func (m *Info) validate(agent string) error {
	if err := sameAgent(m.Agent, agent); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
	}{{"class", m.Class}, {"agent_version", m.AgentVersion}, {"os", m.OS}, {"arch", m.Arch}, {"cpu_model", m.CPUModel}, {"backend", m.Backend}} {
		if err := checkLen(f.name, f.v, 256); err != nil {
			return err
		}
	}
	if m.Class != "" {
		if err := ValidID(m.Class); err != nil {
			return fmt.Errorf("class: %w", err)
		}
	}
	if m.Cores < 0 || m.LogicalCPUs < 0 {
		return fmt.Errorf("negative core count")
	}
	if len(m.Backends) > 16 {
		return fmt.Errorf("%d backends listed, at most 16", len(m.Backends))
	}
	if err := ValidTags(m.Tags); err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	if t := m.Trust; t != nil {
		if len(t.Keys) > MaxTrustedKeys {
			return fmt.Errorf("trust: %d keys listed, at most %d", len(t.Keys), MaxTrustedKeys)
		}
		for _, k := range t.Keys {
			if err := checkLen("trust key id", k, 64); err != nil {
				return err
			}
		}
		if err := checkLen("trust refused", t.Refused, 1024); err != nil {
			return err
		}
	}
	return nil
}

func (m *Status) validate(agent string) error {
	if err := sameAgent(m.Agent, agent); err != nil {
		return err
	}
	switch m.State {
	case StateOnline, StateBusy, StateOffline:
	default:
		return fmt.Errorf("state %q: want online, busy or offline", m.State)
	}
	if m.Class != "" {
		if err := ValidID(m.Class); err != nil {
			return fmt.Errorf("class: %w", err)
		}
	}
	if m.Job != "" {
		if err := ValidJobID(m.Job); err != nil {
			return err
		}
	}
	if len(m.Queued) > 64 {
		return fmt.Errorf("%d queued jobs, at most 64", len(m.Queued))
	}
	for _, q := range m.Queued {
		if err := ValidJobID(q); err != nil {
			return fmt.Errorf("queued: %w", err)
		}
	}
	if m.Done < 0 || m.Total < 0 || m.Done > m.Total || m.Unacked < 0 {
		return fmt.Errorf("progress %d/%d, unacked %d out of range", m.Done, m.Total, m.Unacked)
	}
	return nil
}

func checkKeys(keys []string) error {
	if len(keys) == 0 || len(keys) > MaxKeysPerJob {
		return fmt.Errorf("%d keys: want 1 to %d", len(keys), MaxKeysPerJob)
	}
	for i, k := range keys {
		if k == "" || len(k) > 256 {
			return fmt.Errorf("key %d: empty or longer than 256 bytes", i)
		}
	}
	return nil
}

func (m *Job) validate(string) error {
	if err := ValidJobID(m.ID); err != nil {
		return err
	}
	if m.Attempt < 1 {
		return fmt.Errorf("job %s: attempt %d, want >= 1", m.ID, m.Attempt)
	}
	if err := ValidJobID(m.Run); err != nil {
		return fmt.Errorf("job %s: run: %w", m.ID, err)
	}
	if err := checkKeys(m.Keys); err != nil {
		return fmt.Errorf("job %s: %w", m.ID, err)
	}
	if err := m.validateModels(); err != nil {
		return fmt.Errorf("job %s: %w", m.ID, err)
	}
	if m.Threads < 1 || m.Threads > 256 {
		return fmt.Errorf("job %s: threads %d out of 1..256", m.ID, m.Threads)
	}
	p := m.Protocol
	for _, v := range []float64{p.WarmupSecs, p.MinSecs, p.MaxSecs, p.RelTol, p.Level, p.MinSampleMicros} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("job %s: protocol has a negative or non-finite value", m.ID)
		}
	}
	if p.MaxSecs > 3600 || p.WarmupRuns < 0 || p.MinRuns < 1 || p.MinRuns > 1e6 || p.WarmupRuns > 1e6 {
		return fmt.Errorf("job %s: protocol out of range (min_runs %d, warmup_runs %d, max_secs %g)", m.ID, p.MinRuns, p.WarmupRuns, p.MaxSecs)
	}
	return nil
}

func checkStats(key string, s profiler.Stats) error {
	for _, v := range []float64{s.Min, s.P10, s.P50, s.P90, s.Max, s.Mean, s.Std, s.MAD, s.CV} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("key %s: stats have a negative or non-finite value", key)
		}
	}
	if s.Count < 1 {
		return fmt.Errorf("key %s: stats count %d, want >= 1", key, s.Count)
	}
	if s.P50 <= 0 {
		return fmt.Errorf("key %s: median %g us, want > 0", key, s.P50)
	}
	if s.Min > s.P50 || s.P50 > s.Max {
		return fmt.Errorf("key %s: min %g <= median %g <= max %g does not hold", key, s.Min, s.P50, s.Max)
	}
	return nil
}

func (m *Result) validate(agent string) error {
	if err := sameAgent(m.Agent, agent); err != nil {
		return err
	}
	if err := ValidJobID(m.Job); err != nil {
		return err
	}
	if m.Attempt < 1 {
		return fmt.Errorf("result %s: attempt %d, want >= 1", m.Job, m.Attempt)
	}
	if err := ValidJobID(m.Run); err != nil {
		return fmt.Errorf("result %s: run: %w", m.Job, err)
	}
	if m.Class != "" {
		if err := ValidID(m.Class); err != nil {
			return fmt.Errorf("class: %w", err)
		}
	}
	if err := checkLen("error", m.Error, 4096); err != nil {
		return err
	}
	if m.Error != "" {
		if len(m.Results) > 0 {
			return fmt.Errorf("result %s: has both an error and measurements", m.Job)
		}
		return nil
	}
	if len(m.Results) == 0 || len(m.Results) > MaxKeysPerJob {
		return fmt.Errorf("result %s: %d measurements, want 1 to %d", m.Job, len(m.Results), MaxKeysPerJob)
	}
	seen := map[string]bool{}
	for i, r := range m.Results {
		if r.Key == "" || len(r.Key) > 256 {
			return fmt.Errorf("result %s: measurement %d: empty or oversized key", m.Job, i)
		}
		if seen[r.Key] {
			return fmt.Errorf("result %s: key %s measured twice", m.Job, r.Key)
		}
		seen[r.Key] = true
		if err := checkStats(r.Key, r.Stats); err != nil {
			return fmt.Errorf("result %s: %w", m.Job, err)
		}
	}
	return nil
}

func (m *Ack) validate(string) error {
	if err := ValidJobID(m.Job); err != nil {
		return err
	}
	if m.Attempt < 1 {
		return fmt.Errorf("ack %s: attempt %d, want >= 1", m.Job, m.Attempt)
	}
	switch m.Outcome {
	case AckStored, AckDuplicate, AckRejected, AckFailed:
	default:
		return fmt.Errorf("ack %s: outcome %q unknown", m.Job, m.Outcome)
	}
	return nil
}
