package rollout

import (
	"fmt"
	"sort"
	"strings"

	"edgenas/agent/proto"
)

// Agent is what the host knows of a device from its retained info and
// status messages.
type Agent struct {
	ID           string `json:"id"`
	Class        string `json:"class"`
	State        string `json:"state"` // online, busy, offline, or "" (no status seen)
	AgentVersion string `json:"agent_version,omitempty"`
	// Backend is what the agent measures on, as its info says ("" if no
	// info was seen).
	Backend string `json:"backend,omitempty"`
	// Trust is the agent's trusted host keys as its info says (nil: an
	// agent that does not report them).
	Trust *proto.TrustInfo `json:"trust,omitempty"`
	// Tags are the agent's labels as its info says (agent --tag).
	Tags map[string]string `json:"tags,omitempty"`
}

// Online reports whether the agent's last status says it is connected.
func (a Agent) Online() bool { return a.State == proto.StateOnline || a.State == proto.StateBusy }

// Resolve picks the targets of --to from the known agents: "all", every
// agent; "class:C", the agents of class C; "tag:K=V", the agents whose info
// carries tag K with value V; otherwise one agent id. Offline
// agents are included (the deploy is retained, so they get it when they
// come back, or time out). An empty result is an error naming the selector.
func Resolve(target string, agents []Agent) ([]Agent, error) {
	var out []Agent
	switch {
	case target == "":
		return nil, fmt.Errorf("--to: empty target, want AGENT, class:C, tag:K=V or all")
	case target == "all":
		out = append(out, agents...)
		if len(out) == 0 {
			return nil, fmt.Errorf("--to all: no agent has announced itself on the broker")
		}
	case strings.HasPrefix(target, "class:"):
		class := strings.TrimPrefix(target, "class:")
		if err := proto.ValidID(class); err != nil {
			return nil, fmt.Errorf("--to %s: class: %w", target, err)
		}
		for _, a := range agents {
			if a.Class == class {
				out = append(out, a)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("--to %s: no agent of class %q among the %d known", target, class, len(agents))
		}
	case strings.HasPrefix(target, "tag:"):
		k, v, err := proto.ParseTag(strings.TrimPrefix(target, "tag:"))
		if err != nil {
			return nil, fmt.Errorf("--to %.100s: %w", target, err)
		}
		for _, a := range agents {
			if a.Tags[k] == v {
				out = append(out, a)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("--to %s: no agent tagged %s=%s among the %d known", target, k, v, len(agents))
		}
	default:
		if err := proto.ValidID(target); err != nil {
			return nil, fmt.Errorf("--to %q: want AGENT, class:C, tag:K=V or all: %w", target, err)
		}
		for _, a := range agents {
			if a.ID == target {
				out = append(out, a)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("--to %s: no such agent among the %d known (see `edgenas fleet list`)", target, len(agents))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// NewRollout lays out a rollout over targets: the first canary agents (online
// ones preferred, then by id, so the choice is reproducible) get the deploy
// first. canary <= 0 or >= len(targets) makes every target a canary.
func NewRollout(id string, m proto.Manifest, envelope []byte, target string, targets []Agent, canary int,
	maxFailurePct float64, timeoutSecs float64) *Rollout {
	order := append([]Agent(nil), targets...)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Online() != order[j].Online() {
			return order[i].Online()
		}
		return order[i].ID < order[j].ID
	})
	if canary <= 0 || canary > len(order) {
		canary = len(order)
	}
	r := &Rollout{ID: id, Kind: m.Kind, Name: m.Name, Version: m.Version, SHA256: m.SHA256, Size: m.Size, URL: m.URL,
		Target: target, Canary: canary, MaxFailurePct: maxFailurePct, TimeoutSecs: timeoutSecs, Phase: PhaseCanary,
		Created: m.Created, Manifest: envelope}
	for i, a := range order {
		r.Devices = append(r.Devices, &Device{Agent: a.ID, Class: a.Class, Canary: i < canary, State: DevicePending})
	}
	return r
}
