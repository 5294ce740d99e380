package broker

import (
	"io"
	"log/slog"
	"testing"
)

func TestACLTable(t *testing.T) {
	h := &authHook{users: map[string]User{"host": {Name: "host", Password: "p", Role: RoleHost}},
		agentPassword: "s", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
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
		if got, why := h.allowed(c.user, c.topic, c.write); got != c.want {
			t.Errorf("%s write=%v %s: %v (%s), want %v", c.user, c.write, c.topic, got, why, c.want)
		}
	}
}
