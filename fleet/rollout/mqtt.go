package rollout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
)

// Conn is the MQTT side of a rollout: it learns the agents from their
// retained info and status, publishes retained deploys, and passes install
// reports on. It implements Fleet.
type Conn struct {
	client  paho.Client
	log     *slog.Logger
	reports chan *proto.Install
	closed  chan struct{}
	once    sync.Once

	mu       sync.Mutex
	agents   map[string]*Agent
	rejected int
}

// Dial connects to the broker as the host and subscribes to the agents'
// info, status and install topics (one SUBSCRIBE, before anything is
// published, so no report of this rollout can be missed).
func Dial(ctx context.Context, cfg proto.ConnConfig, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Conn{log: log, reports: make(chan *proto.Install, 1<<12), closed: make(chan struct{}), agents: map[string]*Agent{}}
	ready := make(chan error, 1)
	// The caller's OnConnect, if any, runs after every (re)subscription.
	onConnect := cfg.OnConnect
	cfg.OnConnect = func(pc paho.Client) {
		err := proto.Subscribe(pc, c.onMessage, proto.Filter(proto.KindInfo), proto.Filter(proto.KindStatus),
			proto.Filter(proto.KindInstall))
		if err != nil {
			log.Error("subscribe", "err", err)
		}
		select {
		case ready <- err:
		default:
		}
		if onConnect != nil && err == nil {
			onConnect(pc)
		}
	}
	cfg.OnLost = func(err error) { log.Warn("broker connection lost", "err", err) }
	if cfg.ClientID == "" {
		cfg.ClientID = fmt.Sprintf("edgenas-deploy-%d", time.Now().UnixNano())
	}
	pc, err := proto.Connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	c.client = pc
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(15 * time.Second):
		err = fmt.Errorf("no subscription within 15s")
	}
	if err != nil {
		pc.Disconnect(100)
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return c, nil
}

func (c *Conn) onMessage(_ paho.Client, m paho.Message) {
	msg, err := proto.Decode(m.Topic(), m.Payload())
	if err != nil {
		if len(m.Payload()) > 0 {
			c.mu.Lock()
			c.rejected++
			c.mu.Unlock()
			c.log.Warn("message refused", "reason", err)
		}
		return
	}
	switch v := msg.(type) {
	case *proto.Info:
		c.mu.Lock()
		a := c.agent(v.Agent)
		a.Class, a.AgentVersion, a.Trust, a.Backend, a.Tags = v.Class, v.AgentVersion, v.Trust, v.Backend, v.Tags
		c.mu.Unlock()
	case *proto.Status:
		c.mu.Lock()
		a := c.agent(v.Agent)
		a.State = v.State
		if v.Class != "" {
			a.Class = v.Class
		}
		c.mu.Unlock()
	case *proto.Install:
		select {
		case c.reports <- v:
		case <-c.closed:
		}
	}
}

func (c *Conn) agent(id string) *Agent {
	a, ok := c.agents[id]
	if !ok {
		a = &Agent{ID: id}
		c.agents[id] = a
	}
	return a
}

// Agents waits wait for the retained announcements to arrive and returns the
// agents known so far, sorted by id.
func (c *Conn) Agents(ctx context.Context, wait time.Duration) ([]Agent, error) {
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Agent, 0, len(c.agents))
	for _, a := range c.agents {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Deploy publishes d retained on the agent's deploy topic.
func (c *Conn) Deploy(ctx context.Context, agent string, d *proto.Deploy) error {
	return proto.Publish(ctx, c.client, proto.Topic(agent, proto.KindDeploy), true, d)
}

// Withdraw clears the agent's retained deploy (an empty retained payload).
func (c *Conn) Withdraw(ctx context.Context, agent string) error {
	return proto.PublishRaw(ctx, c.client, proto.Topic(agent, proto.KindDeploy), true, []byte{})
}

// Reports delivers every install report received.
func (c *Conn) Reports() <-chan *proto.Install { return c.reports }

// Rejected counts messages that failed validation.
func (c *Conn) Rejected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejected
}

// Close disconnects.
func (c *Conn) Close() {
	c.once.Do(func() {
		close(c.closed)
		c.client.Disconnect(250)
	})
}
