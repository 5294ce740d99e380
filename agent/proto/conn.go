package proto

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ConnConfig is how a host or an agent connects to the broker.
type ConnConfig struct {
	// Broker is tcp://HOST:PORT (mqtt:// is a synonym) or, over TLS,
	// mqtts://HOST:PORT (ssl:// and tls:// are synonyms).
	Broker   string
	ClientID string
	Username string
	Password string
	// TLS configures a TLS broker URL: the CA that signed the broker's
	// certificate and, for mutual TLS, this peer's certificate
	// (pki.ClientTLS). nil with a TLS URL uses the system's roots; set with
	// a plain URL it is an error, so TLS settings never silently go unused.
	TLS *tls.Config
	// Will, if set, is published retained by the broker when the connection
	// drops without a clean disconnect.
	WillTopic   string
	WillPayload []byte
	// OnConnect runs after every (re)connection, in its own goroutine. paho
	// does not restore subscriptions of a clean session, so subscribe here.
	OnConnect func(paho.Client)
	// OnLost is told why a connection dropped.
	OnLost func(error)
	// KeepAlive bounds how long a dead peer goes unnoticed (default 5 s).
	KeepAlive time.Duration
	// Retry keeps trying to connect forever (agents); without it the first
	// connection failure is returned (one-shot commands).
	Retry bool
}

// IsTLS reports whether a broker URL (as NormalizeBroker returns it) is TLS.
func IsTLS(broker string) bool { return strings.HasPrefix(broker, "ssl://") }

// NormalizeBroker checks a broker URL and returns it in the form paho
// dials: tcp://HOST:PORT, or ssl://HOST:PORT for TLS.
func NormalizeBroker(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "tcp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("broker URL %q: %w", s, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "mqtts", "ssl", "tls":
		u.Scheme = "ssl"
	default:
		return "", fmt.Errorf("broker URL %q: scheme %q, want tcp://HOST:PORT or mqtts://HOST:PORT", s, u.Scheme)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return "", fmt.Errorf("broker URL %q: want tcp://HOST:PORT or mqtts://HOST:PORT", s)
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("broker URL %q: want only a scheme, host and port", s)
	}
	return u.String(), nil
}

// Connect opens a paho client with the settings every edgenas peer needs:
// clean session (nothing may depend on broker sessions), automatic
// reconnection with a short back-off, and unordered handler dispatch so a
// slow handler cannot stall the client or deadlock a publish from inside it.
func Connect(ctx context.Context, cfg ConnConfig) (paho.Client, error) {
	broker, err := NormalizeBroker(cfg.Broker)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil && !IsTLS(broker) {
		return nil, fmt.Errorf("broker URL %q is plain TCP but TLS settings were given: use mqtts://", cfg.Broker)
	}
	ka := cfg.KeepAlive
	if ka <= 0 {
		ka = 5 * time.Second
	}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).SetPassword(cfg.Password).
		SetCleanSession(true).SetOrderMatters(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(2 * time.Second).
		SetConnectRetry(cfg.Retry).SetConnectRetryInterval(500 * time.Millisecond).
		SetKeepAlive(ka).SetPingTimeout(ka).SetConnectTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second).
		SetProtocolVersion(4)
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS.Clone())
	}
	if cfg.WillTopic != "" {
		o.SetBinaryWill(cfg.WillTopic, cfg.WillPayload, QoS, true)
	}
	if cfg.OnConnect != nil {
		f := cfg.OnConnect
		o.SetOnConnectHandler(func(c paho.Client) { go f(c) })
	}
	if cfg.OnLost != nil {
		f := cfg.OnLost
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { f(err) })
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if cfg.Retry {
		// Retrying clients connect in the background; callers go on at once.
		return c, nil
	}
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect to %s as %q: %w", broker, cfg.Username, err)
	}
	return c, nil
}

// Publish sends one message and waits (bounded by ctx and 10 s) for the
// broker's acknowledgement. An error means "maybe not delivered": callers
// that need delivery re-send later rather than rely on paho's offline queue.
func Publish(ctx context.Context, c paho.Client, topic string, retained bool, m any) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return PublishRaw(ctx, c, topic, retained, b)
}

// PublishRaw is Publish for an already-encoded payload.
func PublishRaw(ctx context.Context, c paho.Client, topic string, retained bool, b []byte) error {
	tok := c.Publish(topic, QoS, retained, b)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("publish %s: no acknowledgement within 10s", topic)
	}
}

// Subscribe subscribes to filters (all in one SUBSCRIBE packet) and waits
// for the broker's answer; a refusal (the ACL, for instance) is an error.
// One packet matters: mochi keeps one packet-id table for both directions,
// so a second SUBSCRIBE sent while retained messages from the first are in
// flight can be refused with "packet identifier in use".
func Subscribe(c paho.Client, h paho.MessageHandler, filters ...string) error {
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = QoS
	}
	tok := c.SubscribeMultiple(m, h)
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("subscribe %v: no answer within 10s", filters)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %v: %w", filters, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("subscribe %s: refused by the broker (code %#x)", f, code)
			}
		}
	}
	return nil
}
