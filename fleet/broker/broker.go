// Package broker is the embedded MQTT broker for a single machine (mochi-mqtt
// v2). Peers authenticate with a client certificate issued by the fleet CA
// (internal/pki) on a TLS listener, or, for development, with a password;
// either way the identity decides everything: an agent may use only its own
// client id and its own topics of the fleet protocol, and what it can push
// (retained bytes, messages per second) is bounded. Any standard broker works
// in its place; this one just needs no installation.
package broker

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

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

// Defaults of the bounds in Config.
const (
	// DefaultMaxRetained bounds a retained payload from an agent. An info
	// message is about 1 KB; a retained message is kept in memory for as
	// long as the broker runs.
	DefaultMaxRetained = 8 << 10
	// DefaultMaxSharedIDs bounds how many distinct agent ids the shared
	// development password admits.
	DefaultMaxSharedIDs = 1024
	// DefaultRate and DefaultBurst bound an agent's publishes (a token
	// bucket per connection): far above what a measuring device sends.
	DefaultRate  = 50
	DefaultBurst = 200
)

// Config configures a broker.
type Config struct {
	// Addr is the plain TCP listen address, e.g. "127.0.0.1:1883" (port 0
	// picks a free one); empty for none. Passwords cross it in clear: use
	// it on loopback or for development only.
	Addr string
	// TLSAddr is the TLS listen address (conventionally port 8883); it needs TLS.
	TLSAddr string
	// TLS is the TLS listener's configuration (pki.ServerTLS). With
	// ClientCAs set, a verified client certificate is the peer's identity
	// (its common name and role) and no password is needed.
	TLS   *tls.Config
	Users []User
	// AgentPassword, if set, admits any valid agent id as an agent with this
	// shared password, so a lab need not register every phone. Anyone who
	// knows it can act as any not-yet-connected agent: development only.
	// Accounts in Users take precedence.
	AgentPassword string
	// MaxRetained is the largest retained payload an agent may publish
	// (default DefaultMaxRetained).
	MaxRetained int
	// MaxSharedIDs is how many distinct agent ids AgentPassword admits over
	// the broker's life (default DefaultMaxSharedIDs).
	MaxSharedIDs int
	// Rate and Burst bound each agent connection's publishes per second
	// (defaults DefaultRate, DefaultBurst); excess messages are dropped.
	Rate  float64
	Burst int
	// Logger receives connection refusals and ACL denials (nil: discarded).
	Logger *slog.Logger
	// Store, if set, is a file the broker keeps retained messages and
	// sessions in across restarts (see storage.go); empty keeps them in
	// memory only.
	Store string
}

// Broker is a running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	addr    string
	tlsAddr string
}

// Start listens on cfg.Addr and/or cfg.TLSAddr and serves until Close. The
// listeners are bound before Start returns, so their addresses are usable
// at once.
func Start(cfg Config) (*Broker, error) {
	h, err := newAuthHook(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Addr == "" && cfg.TLSAddr == "" {
		return nil, fmt.Errorf("broker: no listen address (Addr or TLSAddr)")
	}
	if (cfg.TLSAddr == "") != (cfg.TLS == nil) {
		return nil, fmt.Errorf("broker: a TLS listener needs both an address and a TLS configuration")
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// Oversized packets are cut off at the broker; the margin covers the topic and header.
	caps.MaximumPacketSize = proto.MaxPayload + 4096
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: h.log.With("component", "mochi")})
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := addStorage(srv, cfg.Store); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{srv: srv}
	if cfg.Addr != "" {
		tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Addr})
		if err := srv.AddListener(tcp); err != nil {
			return nil, fmt.Errorf("broker: listen %s: %w", cfg.Addr, err)
		}
		b.addr = tcp.Address()
	}
	if cfg.TLSAddr != "" {
		tl := listeners.NewTCP(listeners.Config{ID: "tls", Address: cfg.TLSAddr, TLSConfig: cfg.TLS})
		if err := srv.AddListener(tl); err != nil {
			srv.Close()
			return nil, fmt.Errorf("broker: listen %s (TLS): %w", cfg.TLSAddr, err)
		}
		b.tlsAddr = tl.Address()
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the bound plain listen address (host:port; "" without one).
func (b *Broker) Addr() string { return b.addr }

// URL is the plain address as a client broker URL, tcp://host:port ("" without one).
func (b *Broker) URL() string {
	if b.addr == "" {
		return ""
	}
	return "tcp://" + b.addr
}

// TLSURL is the TLS address as a client broker URL, mqtts://host:port ("" without one).
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "mqtts://" + b.tlsAddr
}

// Close disconnects every client and stops listening. Retained messages and
// sessions survive only with Config.Store.
func (b *Broker) Close() error { return b.srv.Close() }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
