package proto

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
)

func TestNormalizeBroker(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{name: "bare host:port", in: "127.0.0.1:1883", want: "tcp://127.0.0.1:1883"},
		{name: "tcp", in: "tcp://h:1883", want: "tcp://h:1883"},
		{name: "mqtt synonym", in: "mqtt://h:1883", want: "tcp://h:1883"},
		{name: "mqtts", in: "mqtts://h:8883", want: "ssl://h:8883"},
		{name: "ssl", in: "ssl://h:8883", want: "ssl://h:8883"},
		{name: "tls", in: "tls://h:8883", want: "ssl://h:8883"},
		{name: "websocket", in: "ws://h:80", err: "scheme"},
		{name: "no port", in: "mqtts://h", err: "want tcp://HOST:PORT or mqtts://HOST:PORT"},
		{name: "path", in: "mqtts://h:8883/x", err: "only a scheme, host and port"},
		{name: "credentials in the URL", in: "mqtts://u:p@h:8883", err: "only a scheme, host and port"},
	}
	for _, c := range cases {
		got, err := NormalizeBroker(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %q, %v; want an error with %q", c.name, got, err, c.err)
		}
	}
}

// TestConnectRefusesTLSOnPlainURL: TLS settings with a tcp:// URL would
// silently send everything in clear; Connect refuses before dialing.
func TestConnectRefusesTLSOnPlainURL(t *testing.T) {
	_, err := Connect(context.Background(), ConnConfig{Broker: "tcp://127.0.0.1:1", TLS: &tls.Config{}})
	if err == nil || !strings.Contains(err.Error(), "use mqtts://") {
		t.Fatalf("%v", err)
	}
}

func TestClientIDAgent(t *testing.T) {
	cases := []struct {
		clientID, agent string
		isAgent         bool
	}{
		{AgentClientID("a1"), "a1", true},
		{AgentClientID("a1") + ":probe", "a1", true},
		{AgentClientID("a1-probe"), "a1-probe", true},
		{"edgenas-host-r1", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		if agent, ok := ClientIDAgent(c.clientID); agent != c.agent || ok != c.isAgent {
			t.Errorf("%q: %q %v, want %q %v", c.clientID, agent, ok, c.agent, c.isAgent)
		}
	}
}

func FuzzNormalizeBroker(f *testing.F) {
	for _, s := range []string{"tcp://h:1", "mqtts://[::1]:8883", "h:1", "ssl://", "%zz", "tls://a:b@c:1/d?e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeBroker(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "tcp://") && !strings.HasPrefix(got, "ssl://") {
			t.Fatalf("NormalizeBroker(%q) = %q", s, got)
		}
		again, err := NormalizeBroker(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
