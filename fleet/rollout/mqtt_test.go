package rollout_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
)

// TestConnOverBroker: Conn learns agents from retained info/status, its
// deploys are retained on the agent's topic (a late subscriber gets them),
// Withdraw clears them, and install reports reach Reports().
func TestConnOverBroker(t *testing.T) {
	for _, kind := range fleettest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			b := fleettest.Start(t, kind, fleettest.Options{Agents: []string{"dev1"}})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			dev, err := proto.Connect(ctx, proto.ConnConfig{Broker: b.URL(), ClientID: proto.AgentClientID("dev1"), Username: "dev1",
				Password: fleettest.AgentPassword})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Disconnect(100)
			info := &proto.Info{Agent: "dev1", Class: "pi", AgentVersion: "1.2", OS: "linux", Arch: "arm64", Time: time.Now(),
				Tags: map[string]string{"soc": "bcm2711"}}
			status := &proto.Status{Agent: "dev1", Class: "pi", State: proto.StateOnline, Time: time.Now()}
			if err := proto.Publish(ctx, dev, proto.Topic("dev1", proto.KindInfo), true, info); err != nil {
				t.Fatal(err)
			}
			if err := proto.Publish(ctx, dev, proto.Topic("dev1", proto.KindStatus), true, status); err != nil {
				t.Fatal(err)
			}

			c, err := rollout.Dial(ctx, proto.ConnConfig{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			agents, err := c.Agents(ctx, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(agents) != 1 || !reflect.DeepEqual(agents[0], rollout.Agent{ID: "dev1", Class: "pi", State: proto.StateOnline, AgentVersion: "1.2",
				Tags: map[string]string{"soc": "bcm2711"}}) {
				t.Fatalf("agents %+v", agents)
			}

			d := &proto.Deploy{Rollout: "r1", Manifest: []byte(`{"key_id":"x"}`)}
			if err := c.Deploy(ctx, "dev1", d); err != nil {
				t.Fatal(err)
			}
			// A subscriber arriving later (an agent reconnecting) gets it.
			if got := retained(t, b.URL(), "dev1"); got == nil || got.Rollout != "r1" {
				t.Fatalf("retained deploy: %+v", got)
			}
			if err := c.Withdraw(ctx, "dev1"); err != nil {
				t.Fatal(err)
			}
			if got := retained(t, b.URL(), "dev1"); got != nil {
				t.Fatalf("deploy still retained after Withdraw: %+v", got)
			}

			rep := &proto.Install{Agent: "dev1", Rollout: "r1", Kind: proto.ManifestModel, Name: "m", Version: 1,
				State: proto.InstallCommitted, LatencyMS: 2, Time: time.Now()}
			if err := proto.Publish(ctx, dev, proto.Topic("dev1", proto.KindInstall), false, rep); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-c.Reports():
				if got.Agent != "dev1" || got.State != proto.InstallCommitted || got.LatencyMS != 2 {
					t.Errorf("report %+v", got)
				}
			case <-ctx.Done():
				t.Fatal("install report never arrived")
			}
		})
	}
}

// retained subscribes afresh as the agent and returns the retained deploy,
// or nil when none arrives within a short wait.
func retained(t *testing.T, broker, agent string) *proto.Deploy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := proto.Connect(ctx, proto.ConnConfig{Broker: broker, ClientID: proto.AgentClientID(agent) + ":probe", Username: agent,
		Password: fleettest.AgentPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(100)
	got := make(chan *proto.Deploy, 4)
	err = proto.Subscribe(cl, func(_ paho.Client, m paho.Message) {
		if v, err := proto.Decode(m.Topic(), m.Payload()); err == nil {
			if d, ok := v.(*proto.Deploy); ok {
				got <- d
			}
		}
	}, proto.Topic(agent, proto.KindDeploy))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		return d
	case <-time.After(400 * time.Millisecond):
		return nil
	}
}
