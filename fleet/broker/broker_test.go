package broker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
	"edgenas/fleet/fleettest"
)

func connect(t *testing.T, url, user, pass string) (paho.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := proto.AgentClientID(user)
	if user == fleettest.Host.Name {
		id = "t-host"
	}
	c, err := proto.Connect(ctx, proto.ConnConfig{Broker: url, ClientID: id, Username: user, Password: pass})
	if err == nil {
		t.Cleanup(func() { c.Disconnect(0) })
	}
	return c, err
}

// collector records every message the host sees.
type collector struct {
	mu  sync.Mutex
	got map[string][]byte
	ch  chan string
}

func (c *collector) handle(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.got[m.Topic()] = m.Payload()
	c.mu.Unlock()
	c.ch <- m.Topic()
}

func (c *collector) has(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.got[topic]
	return ok
}

// TestAuthAndACL runs against both brokers: unauthenticated clients are
// refused, agents cannot publish on (or read) another agent's topics, and
// their own traffic flows.
func TestAuthAndACL(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.Start(t, kind, fleettest.Options{Agents: []string{"a1", "a2"}})
			if _, err := connect(t, b.URL(), "a1", "wrong"); err == nil {
				t.Fatal("wrong password accepted")
			}
			if _, err := connect(t, b.URL(), "", ""); err == nil {
				t.Fatal("anonymous client accepted")
			}
			host, err := connect(t, b.URL(), fleettest.Host.Name, fleettest.Host.Password)
			if err != nil {
				t.Fatal(err)
			}
			col := &collector{got: map[string][]byte{}, ch: make(chan string, 16)}
			if err := proto.Subscribe(host, col.handle, proto.Prefix+"/#"); err != nil {
				t.Fatal(err)
			}
			a1, err := connect(t, b.URL(), "a1", fleettest.AgentPassword)
			if err != nil {
				t.Fatal(err)
			}
			a2, err := connect(t, b.URL(), "a2", fleettest.AgentPassword)
			if err != nil {
				t.Fatal(err)
			}
			// a2 tries to read a1's jobs: the embedded broker refuses the
			// subscription; mosquitto grants it but filters every delivery.
			leaked := make(chan string, 4)
			err = proto.Subscribe(a2, func(_ paho.Client, m paho.Message) { leaked <- m.Topic() }, proto.Topic("a1", proto.KindJob))
			if err == nil && kind == fleettest.Embedded {
				t.Error("embedded broker let a2 subscribe to a1's jobs")
			}
			if err := host.Publish(proto.Topic("a1", proto.KindJob), 1, false, []byte("{}")).Error(); err != nil {
				t.Fatal(err)
			}
			// a2 spoofs a result on a1's topic, then publishes on its own: only the second arrives.
			spoof := proto.Topic("a1", proto.KindResult)
			a2.Publish(spoof, 0, false, []byte(`{"v":1,"type":"result","agent":"a1"}`)).Wait()
			own := proto.Topic("a1", proto.KindStatus)
			if err := proto.Publish(context.Background(), a1, own, false, &proto.Status{Agent: "a1", State: proto.StateOnline}); err != nil {
				t.Fatal(err)
			}
		wait:
			for {
				select {
				case topic := <-col.ch:
					if topic == own {
						break wait
					}
				case <-time.After(5 * time.Second):
					t.Fatal("own status never arrived")
				}
			}
			// Both publishes went through the same broker in order; give
			// stragglers a moment and check the spoof never arrived.
			time.Sleep(200 * time.Millisecond)
			if col.has(spoof) {
				t.Error("a2's publish on a1's result topic reached the host")
			}
			select {
			case topic := <-leaked:
				t.Errorf("a2 read a1's %s", topic)
			default:
			}
		})
	}
}

// TestEmbeddedLogsDenials checks that refusals are logged with a reason.
func TestEmbeddedLogsDenials(t *testing.T) {
	var buf syncBuffer
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{fleettest.Host},
		AgentPassword: fleettest.AgentPassword, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := connect(t, b.URL(), "a1", "nope"); err == nil {
		t.Fatal("bad password accepted")
	}
	a2, err := connect(t, b.URL(), "a2", fleettest.AgentPassword)
	if err != nil {
		t.Fatal(err)
	}
	a2.Publish(proto.Topic("a1", proto.KindResult), 0, false, []byte("{}")).Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "acl: denied") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	log := buf.String()
	for _, want := range []string{"connection refused", "acl: denied", "agents publish only on their own"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestOversizedDropped: a packet over the limit is refused by the broker.
func TestOversizedDropped(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	host, err := connect(t, b.URL(), fleettest.Host.Name, fleettest.Host.Password)
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{got: map[string][]byte{}, ch: make(chan string, 16)}
	if err := proto.Subscribe(host, col.handle, proto.Filter(proto.KindResult)); err != nil {
		t.Fatal(err)
	}
	a1, err := connect(t, b.URL(), "a1", fleettest.AgentPassword)
	if err != nil {
		t.Fatal(err)
	}
	a1.Publish(proto.Topic("a1", proto.KindResult), 1, false, bytes.Repeat([]byte("x"), proto.MaxPayload+8192)).WaitTimeout(2 * time.Second)
	select {
	case topic := <-col.ch:
		t.Fatalf("oversized message delivered on %s", topic)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestStartValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  broker.Config
		want string
	}{
		{"open", broker.Config{Addr: "127.0.0.1:0"}, "no users"},
		{"bad role", broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Name: "x", Password: "p", Role: "root"}}}, "role"},
		{"bad agent id", broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Name: "a/b", Password: "p", Role: broker.RoleAgent}}}, "agent id"},
		{"empty password", broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Name: "h", Role: broker.RoleHost}}}, "empty password"},
		{"bad addr", broker.Config{Addr: "256.0.0.1:x", AgentPassword: "p"}, "listen"},
	}
	for _, c := range cases {
		b, err := broker.Start(c.cfg)
		if err == nil {
			b.Close()
			t.Errorf("%s: started", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParseUsers(t *testing.T) {
	hash, err := broker.HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	line := broker.FormatUser(broker.User{Name: "pixel-1", Hash: hash, Role: broker.RoleAgent})
	users, err := broker.ParseUsers(strings.NewReader("# accounts\nhost h " + string(hash) + "\n\n" + line + "\n"))
	if err != nil || len(users) != 2 || users[1].Name != "pixel-1" || users[1].Role != broker.RoleAgent || !bytes.Equal(users[1].Hash, hash) {
		t.Fatalf("%v %+v", err, users)
	}
	cases := []struct {
		name, text, want string
	}{
		{name: "two fields", text: "host h", want: "want ROLE NAME BCRYPT-HASH"},
		{name: "bad role", text: "admin x " + string(hash), want: "role"},
		{name: "four fields", text: "agent a b c", want: "got 4 fields"},
		{name: "plain password", text: "agent a s3cret", want: "not a bcrypt hash"},
		{name: "bad agent id", text: "agent a/b " + string(hash), want: "agent id"},
		{name: "duplicate", text: line + "\n" + line, want: "already defined"},
	}
	for _, c := range cases {
		_, err := broker.ParseUsers(strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add("# c\nhost h $2a$10$abcdefghijklmnopqrstuu5Dp0ZcN4rEj5ZCq2p7YlKNqRYqXyNa\n")
	f.Add("agent a b")
	f.Add("\n\n\t")
	f.Fuzz(func(t *testing.T, text string) {
		users, err := broker.ParseUsers(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, u := range users {
			if len(u.Hash) == 0 || (u.Role != broker.RoleAgent && u.Role != broker.RoleHost) {
				t.Fatalf("accepted %+v", u)
			}
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
