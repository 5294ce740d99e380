package broker_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/broker"
	"edgenas/fleet/fleettest"
)

// TestBounds: what one client (or many ids sharing the development
// password) can push into the embedded broker is bounded.
func TestBounds(t *testing.T) {
	hash, err := broker.HashPassword("pw-a9")
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", AgentPassword: fleettest.AgentPassword,
		Users:       []broker.User{fleettest.Host, {Name: "a9", Hash: hash, Role: broker.RoleAgent}},
		MaxRetained: 1024, MaxSharedIDs: 3, Rate: 5, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	host, err := connect(t, b.URL(), fleettest.Host.Name, fleettest.Host.Password)
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{got: map[string][]byte{}, ch: make(chan string, 256)}
	if err := proto.Subscribe(host, col.handle, proto.Prefix+"/#"); err != nil {
		t.Fatal(err)
	}

	t.Run("hashed password account", func(t *testing.T) {
		if _, err := connect(t, b.URL(), "a9", "wrong"); err == nil {
			t.Fatal("wrong password accepted")
		}
		if _, err := connect(t, b.URL(), "a9", "pw-a9"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("shared password admits a bounded number of ids", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			if _, err := connect(t, b.URL(), fmt.Sprintf("s%d", i), fleettest.AgentPassword); err != nil {
				t.Fatalf("id %d of 3: %v", i, err)
			}
		}
		if _, err := connect(t, b.URL(), "s4", fleettest.AgentPassword); err == nil {
			t.Fatal("a 4th made-up id was admitted with the shared password")
		}
		// An id already admitted may come back.
		if _, err := connect(t, b.URL(), "s1", fleettest.AgentPassword); err != nil {
			t.Fatalf("s1 reconnecting: %v", err)
		}
	})
	t.Run("retained payload size", func(t *testing.T) {
		a, err := connect(t, b.URL(), "s2", fleettest.AgentPassword)
		if err != nil {
			t.Fatal(err)
		}
		big := proto.Topic("s2", proto.KindInfo)
		a.Publish(big, 0, true, bytes.Repeat([]byte("x"), 2048)).Wait()
		small := proto.Topic("s2", proto.KindStatus)
		a.Publish(small, 0, true, []byte("{}")).Wait()
		waitTopic(t, col, small)
		if col.has(big) {
			t.Fatal("a 2 KB retained payload passed a 1 KB limit")
		}
	})
	t.Run("publish rate", func(t *testing.T) {
		a, err := connect(t, b.URL(), "s3", fleettest.AgentPassword)
		if err != nil {
			t.Fatal(err)
		}
		topic := proto.Topic("s3", proto.KindResult)
		for i := 0; i < 40; i++ {
			a.Publish(topic, 0, false, []byte("{}")).Wait()
		}
		got := 0
		deadline := time.After(time.Second)
	count:
		for {
			select {
			case tp := <-col.ch:
				if tp == topic {
					got++
				}
			case <-deadline:
				break count
			}
		}
		// A burst of 5 plus 5/s over the ~1 s of sending and counting.
		if got < 5 || got > 15 {
			t.Fatalf("%d of 40 messages passed a 5/s limit with a burst of 5", got)
		}
	})
}
