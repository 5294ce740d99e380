package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	"edgenas/agent/proto"
)

// KeyStatus is what an agent's info says of a key rotation handed to it.
type KeyStatus struct {
	Agent string `json:"agent"`
	// Serial and Keys are the agent's trusted set as last announced.
	Serial uint64   `json:"serial"`
	Keys   []string `json:"keys,omitempty"`
	// Refused is the agent's reason for refusing the rotation, if it did.
	Refused string `json:"refused,omitempty"`
	// Applied: the agent announced a set at the rotation's serial or later,
	// or one that trusts the signing key and no key outside the new set (a
	// device provisioned with the new key cannot verify the older links).
	Applied bool `json:"applied"`
}

// KeyTarget is the set a rotation hands out: its serial, its key ids, and
// the id of the key that signs deploys from now on.
type KeyTarget struct {
	Serial uint64
	Keys   []string
	Signer string
}

// reached reports whether an agent announcing t has what k hands out.
func (k KeyTarget) reached(t *proto.TrustInfo) bool {
	if t.Serial >= k.Serial {
		return true
	}
	if !slices.Contains(t.Keys, k.Signer) {
		return false
	}
	for _, id := range t.Keys {
		if !slices.Contains(k.Keys, id) {
			return false
		}
	}
	return true
}

// PublishKeys hands agent the chain of signed key rotations, retained on its
// keys topic, so it gets them whenever it is next connected.
func (c *Conn) PublishKeys(ctx context.Context, agent string, chain [][]byte) error {
	return proto.Publish(ctx, c.client, proto.Topic(agent, proto.KindKeys), true, &proto.Keys{Chain: chain})
}

// HandKeys publishes chain to every target and then, for up to wait, polls
// the agents' info until each has reached want. It returns the status of
// every target; a wait that ends first is not an error (the rotation stays
// retained for agents that are away).
func (c *Conn) HandKeys(ctx context.Context, targets []Agent, chain [][]byte, want KeyTarget, wait time.Duration) ([]KeyStatus, error) {
	for _, t := range targets {
		if err := c.PublishKeys(ctx, t.ID, chain); err != nil {
			return nil, fmt.Errorf("keys to %s: %w", t.ID, err)
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, settled := c.keyStatus(targets, want)
		if settled || wait <= 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-deadline.C:
			return out, nil
		case <-tick.C:
		}
	}
}

// keyStatus reads the targets' trusted sets from their latest info.
func (c *Conn) keyStatus(targets []Agent, want KeyTarget) ([]KeyStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]KeyStatus, 0, len(targets))
	settled := true
	for _, t := range targets {
		s := KeyStatus{Agent: t.ID}
		if a, ok := c.agents[t.ID]; ok && a.Trust != nil {
			s.Serial, s.Keys, s.Refused = a.Trust.Serial, a.Trust.Keys, a.Trust.Refused
			s.Applied = want.reached(a.Trust)
		}
		settled = settled && s.Applied
		out = append(out, s)
	}
	return out, settled
}
