package broker_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/internal/pki"
)

// relay is a TCP proxy on loopback that records every byte it forwards in
// both directions: an eavesdropper on the network path.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   bytes.Buffer
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.wg.Add(2)
		go r.pipe(up, c)
		go r.pipe(c, up)
	}
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) captured() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// TestEavesdropperSeesNoSecret puts a recording proxy in front of the
// broker. Over plain TCP it captures the host's password and a message
// body (so the check can fail); over TLS, with the password login and with
// certificates, on both brokers, it captures neither.
func TestEavesdropperSeesNoSecret(t *testing.T) {
	const secretBody = "measurement-body-7f3a9c"
	cases := []struct {
		name string
		// start returns the broker's host:port and the client settings to use through the proxy.
		start    func(t *testing.T) (addr string, cc proto.ConnConfig)
		scheme   string
		password string // expected in a plain capture, or "" when no password is sent
		leaks    bool
	}{
		{name: "plain embedded, password", scheme: "tcp", password: fleettest.Host.Password, leaks: true,
			start: func(t *testing.T) (string, proto.ConnConfig) {
				b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
				return strings.TrimPrefix(b.URL(), "tcp://"), proto.ConnConfig{ClientID: "t-host", Username: fleettest.Host.Name, Password: fleettest.Host.Password}
			}},
		{name: "TLS embedded, password", scheme: "mqtts", password: fleettest.Host.Password,
			start: func(t *testing.T) (string, proto.ConnConfig) {
				b := fleettest.StartTLS(t, fleettest.Embedded, fleettest.TLSOptions{})
				return b.Addr(), proto.ConnConfig{ClientID: "t-host", Username: fleettest.Host.Name, Password: fleettest.Host.Password, TLS: b.Anonymous(t)}
			}},
		{name: "TLS embedded, certificate", scheme: "mqtts",
			start: func(t *testing.T) (string, proto.ConnConfig) {
				b := fleettest.StartTLS(t, fleettest.Embedded, fleettest.TLSOptions{})
				return b.Addr(), proto.ConnConfig{ClientID: "t-host", TLS: b.Issue(t, "host", pki.RoleHost)}
			}},
		{name: "TLS mosquitto, certificate", scheme: "mqtts",
			start: func(t *testing.T) (string, proto.ConnConfig) {
				b := fleettest.StartTLS(t, fleettest.Mosquitto, fleettest.TLSOptions{})
				return b.Addr(), proto.ConnConfig{ClientID: "t-host", TLS: b.Issue(t, "host", pki.RoleHost)}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, cc := c.start(t)
			r := startRelay(t, addr)
			cc.Broker = c.scheme + "://" + r.addr()
			cl, err := dial(t, cc)
			if err != nil {
				t.Fatalf("through the proxy: %v", err)
			}
			col := &collector{got: map[string][]byte{}, ch: make(chan string, 16)}
			topic := proto.Topic("a1", proto.KindJob)
			if err := proto.Subscribe(cl, col.handle, topic); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := proto.PublishRaw(ctx, cl, topic, false, []byte(secretBody)); err != nil {
				t.Fatal(err)
			}
			waitTopic(t, col, topic) // the body went out and came back through the proxy
			seen := r.captured()
			if len(seen) == 0 {
				t.Fatal("the proxy saw no traffic")
			}
			hasPW := c.password != "" && bytes.Contains(seen, []byte(c.password))
			hasBody := bytes.Contains(seen, []byte(secretBody))
			if c.leaks {
				if !hasPW || !hasBody {
					t.Fatalf("plain TCP: password captured %v, body captured %v; the proxy should see both", hasPW, hasBody)
				}
				return
			}
			if hasPW || hasBody {
				t.Fatalf("over TLS the proxy captured the password (%v) or the body (%v)", hasPW, hasBody)
			}
			if !bytes.Contains(seen, []byte{0x16, 0x03}) {
				t.Fatalf("no TLS handshake record in %d captured bytes", len(seen))
			}
		})
	}
}
