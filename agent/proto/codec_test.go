package proto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"edgenas/profiler"
)

func validResult() *Result {
	return &Result{Agent: "a1", Class: "pixel7", Job: "r1:0003:0", Attempt: 1, Run: "r1", Seq: 4, Backend: "ref",
		Results: []profiler.LayerResult{{Key: "fc-input:16-output:10", Measurement: profiler.Measurement{
			Stats: profiler.Stats{Count: 6, Min: 1, P10: 1, P50: 2, P90: 3, Max: 3, Mean: 2}}}},
		Started: time.Now(), Finished: time.Now()}
}

func mustEncode(t *testing.T, m any) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patch re-encodes a valid message with one JSON field replaced.
func patch(t *testing.T, m any, field string, v any) []byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(mustEncode(t, m), &obj); err != nil {
		t.Fatal(err)
	}
	obj[field] = v
	b, _ := json.Marshal(obj)
	return b
}

func TestDecodeAcceptsValid(t *testing.T) {
	job := &Job{ID: "r1:0001:0", Attempt: 1, Run: "r1", Keys: []string{"fc-input:16-output:10"}, Threads: 1,
		Protocol: FromProfiler(profiler.DefaultProtocol())}
	cases := []struct {
		topic string
		msg   any
	}{
		{Topic("a1", KindResult), validResult()},
		{Topic("a1", KindJob), job},
		{Topic("a1", KindStatus), &Status{Agent: "a1", State: StateBusy, Job: "r1:0001:0", Done: 1, Total: 2}},
		{Topic("a1", KindInfo), &Info{Agent: "a1", Class: "c", OS: "linux", Arch: "amd64", Backends: []string{"ref"}}},
		{Topic("a1", KindAck), &Ack{Job: "r1:0001:0", Attempt: 2, Outcome: AckDuplicate}},
	}
	for _, c := range cases {
		m, err := Decode(c.topic, mustEncode(t, c.msg))
		if err != nil {
			t.Errorf("%s: %v", c.topic, err)
			continue
		}
		if got, want := typeName(m), typeName(c.msg); got != want {
			t.Errorf("%s: decoded %s, want %s", c.topic, got, want)
		}
	}
	if got := FromProfiler(profiler.DefaultProtocol()).Profiler(); got != profiler.DefaultProtocol() {
		t.Errorf("protocol round trip: %+v", got)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *Info:
		return "info"
	case *Status:
		return "status"
	case *Result:
		return "result"
	case *Job:
		return "job"
	case *Ack:
		return "ack"
	}
	return "?"
}

func TestDecodeRejects(t *testing.T) {
	rt := Topic("a1", KindResult)
	big := make([]byte, MaxPayload+1)
	for i := range big {
		big[i] = ' '
	}
	bad := validResult()
	bad.Results[0].Stats.P50 = -1
	twice := validResult()
	twice.Results = append(twice.Results, twice.Results[0])
	both := validResult()
	both.Error = "boom"
	cases := []struct {
		name, topic string
		payload     []byte
		want        string
	}{
		{"foreign topic", "other/a1/result", mustEncode(t, validResult()), "not under"},
		{"wildcard id", "edgenas/v1/agents/+/result", mustEncode(t, validResult()), "agent id"},
		{"unknown kind", "edgenas/v1/agents/a1/cmd", mustEncode(t, validResult()), "unknown kind"},
		{"deep topic", "edgenas/v1/agents/a1/result/x", mustEncode(t, validResult()), "want"},
		{"oversized", rt, big, "exceeds"},
		{"empty", rt, nil, "empty payload"},
		{"not json", rt, []byte("{nope"), "not a JSON"},
		{"wrong version", rt, patch(t, validResult(), "v", 2), "protocol version 2"},
		{"missing version", rt, []byte(`{"type":"result"}`), "protocol version 0"},
		{"type mismatch", Topic("a1", KindStatus), mustEncode(t, validResult()), `"result" on a "status"`},
		{"spoofed agent", Topic("a2", KindResult), mustEncode(t, validResult()), "does not match"},
		{"bad field type", rt, patch(t, validResult(), "attempt", "one"), "cannot unmarshal"},
		{"zero attempt", rt, patch(t, validResult(), "attempt", 0), "attempt 0"},
		{"bad job id", rt, patch(t, validResult(), "job", "a/b"), "job id"},
		{"negative median", rt, mustEncode(t, bad), "negative"},
		{"duplicate key", rt, mustEncode(t, twice), "measured twice"},
		{"error and data", rt, mustEncode(t, both), "both"},
		{"no results", rt, patch(t, validResult(), "results", []any{}), "0 measurements"},
		{"bad state", Topic("a1", KindStatus), []byte(`{"v":1,"type":"status","agent":"a1","state":"sleepy"}`), "state"},
		{"job without keys", Topic("a1", KindJob), []byte(`{"v":1,"type":"job","id":"j","attempt":1,"run":"r","threads":1,"protocol":{"min_runs":6}}`), "0 keys"},
		{"ack bad outcome", Topic("a1", KindAck), []byte(`{"v":1,"type":"ack","job":"j","attempt":1,"outcome":"maybe"}`), "outcome"},
	}
	for _, c := range cases {
		m, err := Decode(c.topic, c.payload)
		if err == nil {
			t.Errorf("%s: accepted %T", c.name, m)
			continue
		}
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want ErrRejected mentioning %q", c.name, err, c.want)
		}
		if m != nil {
			t.Errorf("%s: returned a message with the error", c.name)
		}
	}
}

func TestTopics(t *testing.T) {
	for _, k := range []string{KindInfo, KindStatus, KindResult, KindJob, KindAck, KindDeploy, KindInstall} {
		a, kind, err := ParseTopic(Topic("dev-1.x", k))
		if err != nil || a != "dev-1.x" || kind != k {
			t.Errorf("round trip %s: %q %q %v", k, a, kind, err)
		}
	}
	for _, id := range []string{"", "a/b", "a+b", "#", "-x", strings.Repeat("a", 65)} {
		if ValidID(id) == nil {
			t.Errorf("ValidID(%q) accepted", id)
		}
	}
	if !IsAgentKind(KindResult) || IsAgentKind(KindJob) {
		t.Error("IsAgentKind")
	}
}

func TestEncodeRefusesOversized(t *testing.T) {
	r := validResult()
	r.Error = strings.Repeat("x", MaxPayload)
	if _, err := Encode(r); err == nil {
		t.Fatal("oversized message encoded")
	}
}
