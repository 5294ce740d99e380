package broker_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/internal/pki"
)

func dial(t *testing.T, cc proto.ConnConfig) (paho.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := proto.Connect(ctx, cc)
	if err == nil {
		t.Cleanup(func() { c.Disconnect(0) })
	}
	return c, err
}

// foreignTLS is a client configuration with a certificate for id issued by
// another CA, but trusting the broker's.
func foreignTLS(t *testing.T, b *fleettest.TLSBroker, id string) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	other, err := pki.InitCA(filepath.Join(dir, "ca"), "attacker CA", false)
	if err != nil {
		t.Fatal(err)
	}
	is, err := other.Issue(pki.Request{Name: id, Role: pki.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := other.WriteBundle(filepath.Join(dir, id), is)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(b.CACert, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestImpersonationRefused: a client holding another device's credential
// (its own certificate, a guessed password, a foreign CA's certificate for
// the victim's id) or the victim's client id can neither log in as the
// victim, nor take over its session, nor publish results, install reports
// or a retained info on its topics. Both brokers, over mutual TLS.
func TestImpersonationRefused(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.StartTLS(t, kind, fleettest.TLSOptions{})
			host, err := dial(t, proto.ConnConfig{Broker: b.URL(), ClientID: "t-host", TLS: b.Issue(t, fleettest.Host.Name, pki.RoleHost)})
			if err != nil {
				t.Fatalf("host: %v\n%s", err, b.Log())
			}
			col := &collector{got: map[string][]byte{}, ch: make(chan string, 64)}
			if err := proto.Subscribe(host, col.handle, proto.Prefix+"/#"); err != nil {
				t.Fatal(err)
			}
			var lost atomic.Int32
			a1, err := dial(t, proto.ConnConfig{Broker: b.URL(), ClientID: proto.AgentClientID("a1"), Username: "a1",
				TLS: b.Issue(t, "a1", pki.RoleAgent), OnLost: func(error) { lost.Add(1) }})
			if err != nil {
				t.Fatalf("a1: %v\n%s", err, b.Log())
			}
			realInfo := &proto.Info{Agent: "a1", Class: "real", AgentVersion: "1", OS: "linux", Arch: "arm64", Time: time.Now()}
			if err := proto.Publish(context.Background(), a1, proto.Topic("a1", proto.KindInfo), true, realInfo); err != nil {
				t.Fatal(err)
			}
			a2TLS := b.Issue(t, "a2", pki.RoleAgent)
			attacks := []struct {
				name string
				cc   proto.ConnConfig
				// refused: the broker must refuse the login (the embedded
				// broker refuses a mismatched name or client id; mosquitto
				// renames the client to its certificate instead).
				refused bool
			}{
				{name: "a2's certificate, user name a1", cc: proto.ConnConfig{Username: "a1", ClientID: "x-1", TLS: a2TLS}, refused: kind == fleettest.Embedded},
				{name: "a2's certificate, a1's client id", cc: proto.ConnConfig{ClientID: proto.AgentClientID("a1"), TLS: a2TLS}, refused: kind == fleettest.Embedded},
				{name: "a2 as itself", cc: proto.ConnConfig{ClientID: proto.AgentClientID("a2"), TLS: a2TLS}},
				{name: "no certificate, a1 with a guessed password", cc: proto.ConnConfig{Username: "a1", Password: "guess", ClientID: "x-3", TLS: b.Anonymous(t)}, refused: true},
				{name: "another CA's certificate for a1", cc: proto.ConnConfig{ClientID: proto.AgentClientID("a1"), TLS: foreignTLS(t, b, "a1")}, refused: true},
			}
			forged := &proto.Result{Agent: "a1", Class: "real", Job: "r1.00000.r0", Attempt: 1, Run: "r1", Seq: 1, Backend: "fake"}
			install := &proto.Install{Agent: "a1", Rollout: "ro1", Kind: "model", Name: "m", Version: 1, State: proto.InstallCommitted, Time: time.Now()}
			fakeInfo := &proto.Info{Agent: "a1", Class: "forged", AgentVersion: "6.6.6", OS: "linux", Arch: "arm64", Time: time.Now()}
			for _, at := range attacks {
				at.cc.Broker = b.URL()
				c, err := dial(t, at.cc)
				if at.refused {
					if err == nil {
						t.Errorf("%s: login accepted", at.name)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v (mosquitto should have renamed the client to its certificate)", at.name, err)
					continue
				}
				// Its own topic, naming a1: the host's decoder refuses the sender
				// mismatch. First, because the embedded broker disconnects a
				// client whose publish the ACL denies.
				payload, _ := proto.Encode(forged)
				c.Publish(proto.Topic("a2", proto.KindResult), proto.QoS, false, payload).WaitTimeout(2 * time.Second)
				for _, m := range []struct {
					kind     string
					msg      any
					retained bool
				}{{proto.KindResult, forged, false}, {proto.KindInstall, install, false}, {proto.KindInfo, fakeInfo, true}} {
					payload, err := proto.Encode(m.msg)
					if err != nil {
						t.Fatal(err)
					}
					if c.IsConnectionOpen() {
						c.Publish(proto.Topic("a1", m.kind), proto.QoS, m.retained, payload).WaitTimeout(2 * time.Second)
					}
				}
			}
			// a1 is still connected and its traffic still flows.
			mark := proto.Topic("a1", proto.KindStatus)
			if err := proto.Publish(context.Background(), a1, mark, false, &proto.Status{Agent: "a1", State: proto.StateOnline, Time: time.Now()}); err != nil {
				t.Fatalf("a1 after the attacks: %v", err)
			}
			waitTopic(t, col, mark)
			time.Sleep(300 * time.Millisecond) // stragglers
			if n := lost.Load(); n != 0 || !a1.IsConnectionOpen() {
				t.Errorf("a1 was disconnected %d times: its session was taken over", n)
			}
			col.mu.Lock()
			defer col.mu.Unlock()
			for _, k := range []string{proto.KindResult, proto.KindInstall} {
				if p, ok := col.got[proto.Topic("a1", k)]; ok {
					t.Errorf("a forged %s reached the host on a1's topic: %s", k, p)
				}
			}
			var info proto.Info
			if err := json.Unmarshal(col.got[proto.Topic("a1", proto.KindInfo)], &info); err != nil || info.Class != "real" {
				t.Errorf("a1's info was overwritten: %+v %v", info, err)
			}
			p, ok := col.got[proto.Topic("a2", proto.KindResult)]
			if !ok {
				t.Fatal("a2's publish on its own result topic never arrived: the attacks above did not run")
			}
			if _, err := proto.Decode(proto.Topic("a2", proto.KindResult), p); err == nil || !strings.Contains(err.Error(), "does not match the topic") {
				t.Errorf("a result from a2 naming a1 decoded: %v", err)
			}
		})
	}
}

func waitTopic(t *testing.T, col *collector, topic string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-col.ch:
			if got == topic {
				return
			}
		case <-deadline:
			t.Fatalf("%s never arrived", topic)
		}
	}
}
