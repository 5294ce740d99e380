package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/internal/signing"
)

// TrustFile is where an agent keeps its trusted host keys once a rotation
// changed them (DATA/trust.json); it then wins over --trust.
const TrustFile = "trust.json"

// openKeys opens the agent's keyring: DATA/trust.json if a rotation wrote
// one, else the provisioned key.
func (a *Agent) openKeys() (*signing.Keyring, error) {
	path := filepath.Join(a.cfg.DataDir, TrustFile)
	k, err := signing.OpenKeyring(path, a.cfg.Trust)
	if err != nil {
		// Falling back to --trust could trust a key a rotation retired.
		return nil, fmt.Errorf("%w (it holds the host keys rotated to: restore it, or remove it to trust only --trust again)", err)
	}
	set := k.Set()
	if a.cfg.Trust != nil && set.Key(signing.KeyID(a.cfg.Trust)) == nil {
		a.log.Warn("the provisioned key was retired by a rotation; trusting the rotated set", "provisioned", signing.KeyID(a.cfg.Trust),
			"serial", set.Serial, "keys", set.IDs())
	}
	return k, nil
}

// TrustedKeys is the set of host keys the agent accepts deploys from now.
func (a *Agent) TrustedKeys() signing.TrustSet { return a.keys.Set() }

// trustInfo describes the trusted set for info.
func (a *Agent) trustInfo() *proto.TrustInfo {
	set := a.keys.Set()
	a.mu.Lock()
	defer a.mu.Unlock()
	return &proto.TrustInfo{Serial: set.Serial, Keys: set.IDs(), Refused: a.trustRefused}
}

// onKeys applies a chain of key rotations from the host. The keyring
// persists the new set before using it; info is re-published so the host
// sees which set the agent has, or why it refused.
func (a *Agent) onKeys(k *proto.Keys) {
	set, changed, skipped, err := a.keys.Rotate(k.Chain)
	for _, s := range skipped {
		a.log.Warn("key rotation entry skipped", "reason", s)
	}
	refused := ""
	if err != nil {
		refused = err.Error()
		if len(refused) > 1000 {
			refused = refused[:1000]
		}
		a.log.Warn("key rotation refused", "reason", err)
	} else if changed {
		a.log.Info("trusted host keys rotated", "serial", set.Serial, "keys", set.IDs())
	}
	a.mu.Lock()
	news := refused != a.trustRefused
	a.trustRefused = refused
	a.mu.Unlock()
	if changed || news {
		notify(a.infoNow)
	}
}

// publishInfo publishes the agent's info, retained.
func (a *Agent) publishInfo(ctx context.Context, c paho.Client) {
	if c == nil || !c.IsConnectionOpen() {
		return
	}
	info := a.describe(ctx)
	if err := proto.Publish(ctx, c, proto.Topic(a.cfg.ID, proto.KindInfo), true, &info); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("publish info", "err", err)
	}
}
