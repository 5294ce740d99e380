package broker

import (
	"strings"
	"testing"
	"time"
)

func TestACLTable(t *testing.T) {
	cases := []struct {
		user, topic string
		write, want bool
	}{
		{"host", "edgenas/v1/#", false, true},
		{"host", "edgenas/v1/agents/+/result", false, true},
		{"host", "edgenas/v1/agents/a1/job", true, true},
		{"host", "other/topic", true, false},
		{"a1", "edgenas/v1/agents/a1/result", true, true},
		{"a1", "edgenas/v1/agents/a1/status", true, true},
		{"a1", "edgenas/v1/agents/a1/info", true, true},
		{"a1", "edgenas/v1/agents/a1/job", true, false},
		{"a1", "edgenas/v1/agents/a1/ack", true, false},
		{"a1", "edgenas/v1/agents/a2/result", true, false},
		{"a1", "edgenas/v1/agents/a1/job", false, true},
		{"a1", "edgenas/v1/agents/a1/ack", false, true},
		{"a1", "edgenas/v1/agents/a2/job", false, false},
		{"a1", "edgenas/v1/agents/+/job", false, false},
		{"a1", "edgenas/v1/#", false, false},
		{"a/1", "edgenas/v1/agents/a/1/result", true, false},
		{"a1", "edgenas/v1/agents/a1/deploy", false, true},
		{"a1", "edgenas/v1/agents/a1/deploy", true, false},
		{"a1", "edgenas/v1/agents/a2/deploy", false, false},
		{"a1", "edgenas/v1/agents/a1/install", true, true},
		{"a1", "edgenas/v1/agents/a1/install", false, false},
		{"a1", "edgenas/v1/agents/a2/install", true, false},
		{"host", "edgenas/v1/agents/a1/deploy", true, true},
		{"host", "edgenas/v1/agents/+/install", false, true},
	}
	for _, c := range cases {
		role := RoleAgent
		if c.user == "host" {
			role = RoleHost
		}
		if got, why := allowed(role, c.user, c.topic, c.write); got != c.want {
			t.Errorf("%s write=%v %s: %v (%s), want %v", c.user, c.write, c.topic, got, why, c.want)
		}
	}
}

func TestClientIDBinding(t *testing.T) {
	cases := []struct {
		name     string
		role     Role
		clientID string
		want     string // "" accepted, else a piece of the error
	}{
		{name: "a1", role: RoleAgent, clientID: "edgenas-agent-a1"},
		{name: "a1", role: RoleAgent, clientID: "edgenas-agent-a1:probe"},
		{name: "a1", role: RoleAgent, clientID: "edgenas-agent-a2", want: "must connect with client id"},
		{name: "a1", role: RoleAgent, clientID: "edgenas-agent-a1-probe", want: "must connect with client id"},
		{name: "a1", role: RoleAgent, clientID: "edgenas-host-x", want: "must connect with client id"},
		{name: "a1", role: RoleAgent, clientID: "", want: "must connect with client id"},
		{name: "host", role: RoleHost, clientID: "edgenas-host-run1"},
		{name: "host", role: RoleHost, clientID: "edgenas-agent-a1", want: "may not use agent"},
	}
	for _, c := range cases {
		err := checkClientID(&peer{name: c.name, role: c.role}, c.clientID)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s as %q: %v", c.name, c.clientID, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s as %q: %v, want %q", c.name, c.clientID, err, c.want)
		}
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := bucket{tokens: 3, last: t0}
	got := 0
	for i := 0; i < 10; i++ {
		if b.take(t0, 10, 3) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("burst of 3 let %d through", got)
	}
	// 0.5 s at 10/s refills 5 tokens, capped at the burst of 3.
	got = 0
	for i := 0; i < 10; i++ {
		if b.take(t0.Add(500*time.Millisecond), 10, 3) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("after refill %d went through, want 3", got)
	}
}
