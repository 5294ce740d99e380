package dashboard

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
)

// TestBrokerMetrics: a real embedded broker's counters show on its
// metrics endpoint once a host connects and publishes.
func TestBrokerMetrics(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Name: "host", Password: "pw", Role: broker.RoleHost}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: "metrics-test", Username: "host", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)
	if err := proto.PublishRaw(ctx, c, proto.Topic("a1", proto.KindDeploy), true, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(BrokerHandler(b.Stats))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"edgenas_broker_clients_connected 1", "edgenas_broker_messages_received_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("broker metrics lack %q:\n%s", want, body)
		}
	}
	// The broker's own $SYS messages are retained too: at least ours is.
	if !strings.Contains(string(body), "edgenas_broker_retained ") || strings.Contains(string(body), "edgenas_broker_retained 0\n") {
		t.Errorf("no retained message counted:\n%s", body)
	}
}
