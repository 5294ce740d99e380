package proto

import "fmt"

// MaxTrustedKeys bounds the host keys an agent trusts at once (and lists in
// Info.Trust); internal/signing enforces the same bound on a rotation.
const MaxTrustedKeys = 8

// MaxKeyChain bounds the rotations one Keys message carries.
const MaxKeyChain = 16

// MaxRotation bounds one signed rotation: a handful of 32-byte keys.
const MaxRotation = 4 << 10

// Keys hands an agent the host keys to trust. The host publishes it
// RETAINED on the agent's own keys topic, so an agent that was offline gets
// it on reconnect. Chain holds internal/signing rotation envelopes, oldest
// first: each replaces the trusted set with a higher serial and is signed by
// a key of the set before it, so an agent that missed several rotations
// walks the chain from the set it has. Nothing in it is trusted before the
// agent verified it.
type Keys struct {
	Header
	Chain [][]byte `json:"chain"`
}

func (m *Keys) validate(string) error {
	if len(m.Chain) == 0 || len(m.Chain) > MaxKeyChain {
		return fmt.Errorf("keys: chain of %d rotations, want 1..%d", len(m.Chain), MaxKeyChain)
	}
	for i, r := range m.Chain {
		if len(r) == 0 || len(r) > MaxRotation {
			return fmt.Errorf("keys: rotation %d is %d bytes, want 1..%d", i, len(r), MaxRotation)
		}
	}
	return nil
}
