// Package broker is the embedded MQTT broker for a single machine (mochi-mqtt
// v2): username/password authentication and an ACL that confines each agent
// to its own topics of the fleet protocol. Any standard broker works in its
// place; this one just needs no installation.
package broker

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"edgenas/agent/proto"
)

// Role is what a broker user may do.
type Role string

// Roles.
const (
	// RoleHost may publish jobs and acks to any agent and read every topic of the protocol.
	RoleHost Role = "host"
	// RoleAgent may publish only its own info/status/result/install and read only its own job/ack/deploy;
	// its user name is its agent id.
	RoleAgent Role = "agent"
)

// User is one account.
type User struct {
	Name     string
	Password string
	Role     Role
}

// Config configures a broker.
type Config struct {
	// Addr is the TCP listen address, e.g. "127.0.0.1:1883" (port 0 picks a free one).
	Addr  string
	Users []User
	// AgentPassword, if set, admits any valid agent id as an agent with this
	// shared password, so a lab need not register every phone. Accounts in
	// Users take precedence.
	AgentPassword string
	// Logger receives connection refusals and ACL denials (nil: discarded).
	Logger *slog.Logger
	// Store, if set, is a file the broker keeps retained messages and
	// sessions in across restarts (see storage.go); empty keeps them in
	// memory only.
	Store string
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens on cfg.Addr and serves until Close. The listener is bound
// before Start returns, so Addr is usable at once.
func Start(cfg Config) (*Broker, error) {
	if len(cfg.Users) == 0 && cfg.AgentPassword == "" {
		return nil, fmt.Errorf("broker: no users configured: refusing to run an open broker")
	}
	users := map[string]User{}
	for i, u := range cfg.Users {
		if u.Role != RoleHost && u.Role != RoleAgent {
			return nil, fmt.Errorf("broker: user %d (%q): role %q, want host or agent", i, u.Name, u.Role)
		}
		if u.Role == RoleAgent {
			if err := proto.ValidID(u.Name); err != nil {
				return nil, fmt.Errorf("broker: agent user: %w", err)
			}
		} else if u.Name == "" {
			return nil, fmt.Errorf("broker: user %d has no name", i)
		}
		if u.Password == "" {
			return nil, fmt.Errorf("broker: user %q has an empty password", u.Name)
		}
		if _, dup := users[u.Name]; dup {
			return nil, fmt.Errorf("broker: user %q listed twice", u.Name)
		}
		users[u.Name] = u
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// Oversized packets are cut off at the broker; the margin covers the topic and header.
	caps.MaximumPacketSize = proto.MaxPayload + 4096
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log.With("component", "mochi")})
	h := &authHook{users: users, agentPassword: cfg.AgentPassword, log: log}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := addStorage(srv, cfg.Store); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", cfg.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// Addr is the bound listen address (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the address as a client broker URL, tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client and stops listening. Retained messages and
// sessions survive only with Config.Store.
func (b *Broker) Close() error { return b.srv.Close() }

// authHook authenticates CONNECTs and applies the ACL.
type authHook struct {
	mqtt.HookBase
	users         map[string]User
	agentPassword string
	log           *slog.Logger
}

func (h *authHook) ID() string { return "edgenas-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// role returns the role of an authenticated user name.
func (h *authHook) role(name string) (Role, bool) {
	if u, ok := h.users[name]; ok {
		return u.Role, true
	}
	if h.agentPassword != "" && proto.ValidID(name) == nil {
		return RoleAgent, true
	}
	return "", false
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name, pass := string(pk.Connect.Username), pk.Connect.Password
	want := ""
	if u, ok := h.users[name]; ok {
		want = u.Password
	} else if h.agentPassword != "" && proto.ValidID(name) == nil {
		want = h.agentPassword
	}
	if want == "" || subtle.ConstantTimeCompare(pass, []byte(want)) != 1 {
		h.log.Warn("connection refused: bad user name or password", "client", cl.ID, "user", name, "remote", cl.Net.Remote)
		return false
	}
	return true
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	name := string(cl.Properties.Username)
	ok, why := h.allowed(name, topic, write)
	if !ok {
		op := "read"
		if write {
			op = "publish"
		}
		h.log.Warn("acl: denied", "op", op, "user", name, "client", cl.ID, "topic", topic, "reason", why)
	}
	return ok
}

// allowed is the ACL: a pure function of user, topic (or filter) and direction.
func (h *authHook) allowed(name, topic string, write bool) (bool, string) {
	role, ok := h.role(name)
	if !ok {
		return false, "unknown user"
	}
	if role == RoleHost {
		if topic == proto.Prefix+"/#" || strings.HasPrefix(topic, proto.Prefix+"/") {
			return true, ""
		}
		return false, "outside " + proto.Prefix
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

// ParseUsers reads accounts, one per line: "ROLE NAME PASSWORD" (ROLE is host
// or agent); blank lines and lines starting with # are skipped.
func ParseUsers(r io.Reader) ([]User, error) {
	var out []User
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("users line %d: want ROLE NAME PASSWORD, got %d fields", n, len(f))
		}
		role := Role(f[0])
		if role != RoleHost && role != RoleAgent {
			return nil, fmt.Errorf("users line %d: role %q, want host or agent", n, f[0])
		}
		out = append(out, User{Name: f[1], Password: f[2], Role: role})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// LoadUsers reads a users file (see ParseUsers).
func LoadUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	users, err := ParseUsers(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}
