package broker_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
	"edgenas/fleet/fleettest"
)

// TestStoreKeepsRetained: a retained deploy published before the broker
// stops is handed to the agent that subscribes after it starts again on the
// same store; a withdrawn one stays withdrawn; a second broker cannot open
// a store in use.
func TestStoreKeepsRetained(t *testing.T) {
	store := filepath.Join(t.TempDir(), "broker", "state.db")
	start := func() *broker.Broker {
		b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{fleettest.Host},
			AgentPassword: fleettest.AgentPassword, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start()
	host, err := connect(t, b.URL(), fleettest.Host.Name, fleettest.Host.Password)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		agent   string
		payload string
	}{
		{agent: "a1", payload: "deploy-for-a1"},
		{agent: "a2", payload: "deploy-for-a2"},
		{agent: "a2", payload: ""}, // withdrawn
	} {
		if err := proto.PublishRaw(ctx, host, proto.Topic(c.agent, proto.KindDeploy), true, []byte(c.payload)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{fleettest.Host}, Store: store}); err == nil ||
		!strings.Contains(err.Error(), "another broker") {
		t.Errorf("second broker on a store in use: %v, want a refusal", err)
	}
	host.Disconnect(0)
	b.Close()

	b = start()
	defer b.Close()
	cases := []struct {
		agent string
		want  string
	}{
		{agent: "a1", want: "deploy-for-a1"},
		{agent: "a2", want: ""},
	}
	for _, c := range cases {
		got := make(chan string, 4)
		cl, err := connect(t, b.URL(), c.agent, fleettest.AgentPassword)
		if err != nil {
			t.Fatal(err)
		}
		tok := cl.Subscribe(proto.Topic(c.agent, proto.KindDeploy), 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		select {
		case p := <-got:
			if p != c.want {
				t.Errorf("%s after restart: retained %q, want %q", c.agent, p, c.want)
			}
		case <-time.After(500 * time.Millisecond):
			if c.want != "" {
				t.Errorf("%s after restart: no retained deploy, want %q", c.agent, c.want)
			}
		}
	}
}
