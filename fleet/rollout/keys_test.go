package rollout

import (
	"testing"

	"edgenas/agent/proto"
)

// TestKeyTargetReached: which announced sets count as having a rotation.
func TestKeyTargetReached(t *testing.T) {
	add := KeyTarget{Serial: 1, Keys: []string{"old", "new"}, Signer: "new"}
	retire := KeyTarget{Serial: 2, Keys: []string{"new"}, Signer: "new"}
	tests := []struct {
		name  string
		want  KeyTarget
		agent proto.TrustInfo
		ok    bool
	}{
		{name: "provisioned, not rotated", want: add, agent: proto.TrustInfo{Keys: []string{"old"}}, ok: false},
		{name: "rotated", want: add, agent: proto.TrustInfo{Serial: 1, Keys: []string{"old", "new"}}, ok: true},
		{name: "provisioned with the new key", want: add, agent: proto.TrustInfo{Keys: []string{"new"}}, ok: true},
		{name: "rotated further already", want: add, agent: proto.TrustInfo{Serial: 2, Keys: []string{"new"}}, ok: true},
		{name: "old key not retired yet", want: retire, agent: proto.TrustInfo{Serial: 1, Keys: []string{"old", "new"}}, ok: false},
		{name: "retired", want: retire, agent: proto.TrustInfo{Serial: 2, Keys: []string{"new"}}, ok: true},
		{name: "trusts a foreign key too", want: retire, agent: proto.TrustInfo{Keys: []string{"new", "evil"}}, ok: false},
	}
	for _, tc := range tests {
		if got := tc.want.reached(&tc.agent); got != tc.ok {
			t.Errorf("%s: reached = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
