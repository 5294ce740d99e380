package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
)

// TestStatusOnlyFromRunGoroutines: a job arriving asks for a status, but
// the status goes out from the heartbeat goroutine (owned by Run's ctx and
// wait group), never from a goroutine of its own that could outlive Run
// and overwrite the retained offline status.
func TestStatusOnlyFromRunGoroutines(t *testing.T) {
	host := broker.User{Name: "host", Password: "h", Role: broker.RoleHost}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{host}, AgentPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	statuses := make(chan proto.Status, 16)
	hc, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: "h", Username: host.Name, Password: host.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Disconnect(100)
	if err := proto.Subscribe(hc, func(_ paho.Client, m paho.Message) {
		if v, err := proto.Decode(m.Topic(), m.Payload()); err == nil {
			statuses <- *v.(*proto.Status)
		}
	}, proto.Topic("a1", proto.KindStatus)); err != nil {
		t.Fatal(err)
	}

	a, err := New(Config{Broker: b.URL(), ID: "a1", Password: "pw", DataDir: t.TempDir(), Backend: "ref", Heartbeat: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if a.client, err = proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: proto.AgentClientID("a1"), Username: "a1", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	defer a.client.Disconnect(100)

	job := &proto.Job{ID: "r1.00000.r0", Attempt: 1, Run: "r1", Keys: []string{"fc-input:16-output:10"}, Threads: 1, Sent: time.Now()}
	a.onJob(job)
	select {
	case s := <-statuses:
		t.Fatalf("status %+v published with no heartbeat goroutine running", s)
	case <-time.After(300 * time.Millisecond):
	}

	hbCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.heartbeat(hbCtx) }()
	select {
	case s := <-statuses:
		if s.State != proto.StateBusy || !slices.Contains(s.Queued, job.ID) {
			t.Errorf("status %+v, want busy with %s queued", s, job.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no status within 5s of a job arriving (the heartbeat is an hour)")
	}
	stop()
	<-done
}
