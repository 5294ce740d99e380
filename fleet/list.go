package fleet

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

// AgentRow is one agent as `fleet list` shows it, from its retained info
// and status.
type AgentRow struct {
	ID       string    `json:"id"`
	Class    string    `json:"class"`
	State    string    `json:"state"`
	LastSeen time.Time `json:"last_seen"`
	Job      string    `json:"job,omitempty"`
	Done     int       `json:"done,omitempty"`
	Total    int       `json:"total,omitempty"`
	Queued   int       `json:"queued"`
	Unacked  int       `json:"unacked"`
	Backend  string    `json:"backend,omitempty"`
	CPU      string    `json:"cpu,omitempty"`
	OS       string    `json:"os,omitempty"`
	Cores    int       `json:"cores,omitempty"`
	Version  string    `json:"agent_version,omitempty"`
}

// List collects the retained info and status of every agent on the broker,
// listening for wait (retained messages arrive right after subscribing),
// and returns them sorted by class and id. class "" lists all.
func List(ctx context.Context, conn proto.ConnConfig, class string, wait time.Duration, log *slog.Logger) ([]AgentRow, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if conn.ClientID == "" {
		conn.ClientID = "edgenas-list-" + NewRunID()
	}
	var mu sync.Mutex
	rows := map[string]*AgentRow{}
	row := func(id string) *AgentRow {
		if r, ok := rows[id]; ok {
			return r
		}
		r := &AgentRow{ID: id, State: "unknown"}
		rows[id] = r
		return r
	}
	handler := func(_ paho.Client, m paho.Message) {
		msg, err := proto.Decode(m.Topic(), m.Payload())
		if err != nil {
			if len(m.Payload()) > 0 {
				log.Warn("message refused", "reason", err)
			}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch v := msg.(type) {
		case *proto.Info:
			r := row(v.Agent)
			r.Class, r.Backend, r.CPU, r.OS, r.Cores, r.Version = v.Class, v.Backend, v.CPUModel, v.OS+"/"+v.Arch, v.Cores, v.AgentVersion
		case *proto.Status:
			r := row(v.Agent)
			r.Class, r.State, r.LastSeen, r.Job, r.Done, r.Total, r.Queued, r.Unacked = v.Class, v.State, v.Time, v.Job, v.Done, v.Total, len(v.Queued), v.Unacked
		}
	}
	c, err := proto.Connect(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(100)
	if err := proto.Subscribe(c, handler, proto.Filter(proto.KindInfo), proto.Filter(proto.KindStatus)); err != nil {
		return nil, fmt.Errorf("fleet list: %w", err)
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	var out []AgentRow
	for _, r := range rows {
		if class == "" || r.Class == class {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
