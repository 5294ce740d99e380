package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"edgenas/agent/proto"
	"edgenas/internal/pki"
)

// peer is the authenticated identity of one connection.
type peer struct {
	name   string
	role   Role
	method string // "certificate", "password" or "shared password"
	bucket bucket
}

// authHook authenticates CONNECTs, binds each connection to one identity
// and applies the ACL and the bounds.
type authHook struct {
	mqtt.HookBase
	users         map[string]User
	agentPassword string
	maxRetained   int
	maxShared     int
	rate          float64
	burst         int
	log           *slog.Logger

	mu     sync.Mutex
	peers  map[*mqtt.Client]*peer
	shared map[string]bool // agent ids admitted by the shared password
}

func newAuthHook(cfg Config) (*authHook, error) {
	certs := cfg.TLS != nil && cfg.TLS.ClientCAs != nil
	if len(cfg.Users) == 0 && cfg.AgentPassword == "" && !certs {
		return nil, fmt.Errorf("broker: no users configured and no client CA: refusing to run an open broker")
	}
	users := map[string]User{}
	for i, u := range cfg.Users {
		if err := u.validate(i); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		if _, dup := users[u.Name]; dup {
			return nil, fmt.Errorf("broker: user %q listed twice", u.Name)
		}
		users[u.Name] = u
	}
	h := &authHook{users: users, agentPassword: cfg.AgentPassword, maxRetained: cfg.MaxRetained, maxShared: cfg.MaxSharedIDs,
		rate: cfg.Rate, burst: cfg.Burst, peers: map[*mqtt.Client]*peer{}, shared: map[string]bool{}}
	if cfg.Logger != nil {
		h.log = cfg.Logger
	} else {
		h.log = discard()
	}
	if h.maxRetained <= 0 {
		h.maxRetained = DefaultMaxRetained
	}
	if h.maxShared <= 0 {
		h.maxShared = DefaultMaxSharedIDs
	}
	if h.rate <= 0 {
		h.rate = DefaultRate
	}
	if h.burst <= 0 {
		h.burst = DefaultBurst
	}
	return h, nil
}

func (h *authHook) ID() string { return "edgenas-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnConnectAuthenticate decides who the client is (certificate first, then
// password) and whether that identity may use the client id it asked for.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	p, err := h.authenticate(cl, pk)
	if err == nil {
		err = checkClientID(p, cl.ID)
	}
	if err != nil {
		h.log.Warn("connection refused", "reason", err, "client", cl.ID, "user", string(pk.Connect.Username), "remote", cl.Net.Remote)
		return false
	}
	// The ACL reads the identity from here, never from what the client sent.
	cl.Properties.Username = []byte(p.name)
	p.bucket = bucket{tokens: float64(h.burst), last: time.Now()}
	h.mu.Lock()
	h.peers[cl] = p
	h.mu.Unlock()
	h.log.Info("connected", "client", cl.ID, "identity", p.name, "role", p.role, "by", p.method, "remote", cl.Net.Remote)
	return true
}

func (h *authHook) authenticate(cl *mqtt.Client, pk packets.Packet) (*peer, error) {
	name := string(pk.Connect.Username)
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
			cn, role, err := pki.Identity(st.PeerCertificates[0])
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			if role != pki.RoleAgent && role != pki.RoleHost {
				return nil, fmt.Errorf("client certificate %q is a %s certificate", cn, role)
			}
			if name != "" && name != cn {
				return nil, fmt.Errorf("user name %q does not match the certificate's %q", name, cn)
			}
			return &peer{name: cn, role: Role(role), method: "certificate"}, nil
		}
	}
	if u, ok := h.users[name]; ok {
		if !u.check(pk.Connect.Password) {
			return nil, fmt.Errorf("bad user name or password")
		}
		return &peer{name: name, role: u.Role, method: "password"}, nil
	}
	if h.agentPassword == "" || proto.ValidID(name) != nil || !(User{Password: h.agentPassword}).check(pk.Connect.Password) {
		return nil, fmt.Errorf("bad user name or password")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.shared[name] && len(h.shared) >= h.maxShared {
		return nil, fmt.Errorf("the shared agent password already admitted %d agent ids, the limit", h.maxShared)
	}
	h.shared[name] = true
	return &peer{name: name, role: RoleAgent, method: "shared password"}, nil
}

// checkClientID binds an agent's client id to its identity, so that no
// client can take over (and disconnect) another agent's session.
func checkClientID(p *peer, clientID string) error {
	owner, isAgent := proto.ClientIDAgent(clientID)
	switch {
	case p.role == RoleAgent && owner != p.name:
		return fmt.Errorf("agent %q must connect with client id %q (or %q+\":\"+suffix), not %q",
			p.name, proto.AgentClientID(p.name), proto.AgentClientID(p.name), clientID)
	case p.role == RoleHost && isAgent:
		return fmt.Errorf("host %q may not use agent %q's client id", p.name, owner)
	}
	return nil
}

func (h *authHook) peer(cl *mqtt.Client) *peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peers[cl]
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.peers, cl)
	h.mu.Unlock()
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	p := h.peer(cl)
	var ok bool
	why := "not authenticated"
	if p != nil {
		ok, why = allowed(p.role, p.name, topic, write)
	}
	if !ok {
		op := "read"
		if write {
			op = "publish"
		}
		h.log.Warn("acl: denied", "op", op, "user", string(cl.Properties.Username), "client", cl.ID, "topic", topic, "reason", why)
	}
	return ok
}

// OnPublish applies the bounds to agents: retained payload size and
// message rate. The host is trusted to pace itself.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	p := h.peer(cl)
	if p == nil || p.role != RoleAgent {
		return pk, nil
	}
	if pk.FixedHeader.Retain && len(pk.Payload) > h.maxRetained {
		h.log.Warn("publish dropped: retained payload too large", "user", p.name, "topic", pk.TopicName, "bytes", len(pk.Payload), "limit", h.maxRetained)
		return pk, packets.ErrRejectPacket
	}
	h.mu.Lock()
	ok := p.bucket.take(time.Now(), h.rate, float64(h.burst))
	h.mu.Unlock()
	if !ok {
		h.log.Warn("publish dropped: rate limit", "user", p.name, "topic", pk.TopicName, "per_second", h.rate)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowed is the ACL: a pure function of identity, topic (or filter) and direction.
func allowed(role Role, name, topic string, write bool) (bool, string) {
	if role == RoleHost {
		if topic == proto.Prefix+"/#" || strings.HasPrefix(topic, proto.Prefix+"/") {
			return true, ""
		}
		return false, "outside " + proto.Prefix
	}
	if role != RoleAgent {
		return false, "unknown role"
	}
	if proto.ValidID(name) != nil {
		return false, "not a valid agent id"
	}
	kinds := proto.HostKinds()
	if write {
		kinds = proto.AgentKinds()
	}
	for _, k := range kinds {
		if topic == proto.Topic(name, k) {
			return true, ""
		}
	}
	if write {
		return false, "agents publish only on their own info/status/result/install topics"
	}
	return false, "agents read only their own job/ack/deploy topics"
}
