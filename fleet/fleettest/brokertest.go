package fleettest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/fleet/broker"
)

// Kinds of broker.
const (
	Embedded  = "embedded"
	Mosquitto = "mosquitto"
)

// Kinds lists the brokers every integration test runs against.
func Kinds() []string { return []string{Embedded, Mosquitto} }

// Host is the host account every test broker has.
var Host = broker.User{Name: "host", Password: "host-secret", Role: broker.RoleHost}

// AgentPassword is the password of every agent account (the embedded broker
// admits any agent id with it; mosquitto gets one account per listed agent).
const AgentPassword = "agent-secret"

// Options shape a test broker.
type Options struct {
	// Agents are the agent ids mosquitto creates accounts for. The embedded
	// broker admits any id with AgentPassword.
	Agents []string
	// Anonymous runs mosquitto without authentication (load tests with
	// thousands of agents); the embedded broker always authenticates.
	Anonymous bool
}

// Broker is a running test broker: the embedded one, or Debian's mosquitto
// on a free loopback port with a generated config. Both can be stopped and
// restarted on the same port mid-test.
type Broker struct {
	Kind string
	addr string
	t    testing.TB
	opts Options

	mu   sync.Mutex
	emb  *broker.Broker
	cmd  *exec.Cmd
	conf string
	logf *os.File
}

// URL is the broker's tcp:// URL (stable across restarts).
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Start starts a broker of kind and stops it when the test ends. Mosquitto
// missing skips the test, except under CI=true where it fails.
func Start(t testing.TB, kind string, opts Options) *Broker {
	t.Helper()
	b := &Broker{Kind: kind, t: t, opts: opts, addr: freeAddr(t)}
	if kind == Mosquitto {
		path, err := exec.LookPath("mosquitto")
		if err != nil {
			if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 == nil {
				path = "/usr/sbin/mosquitto"
			} else if os.Getenv("CI") == "true" {
				t.Fatalf("mosquitto not installed (make deps installs it): %v", err)
			} else {
				t.Skipf("mosquitto not installed (make deps installs it); skipping the mosquitto variant")
			}
		}
		b.writeMosquittoConfig(t, path)
	}
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (b *Broker) writeMosquittoConfig(t testing.TB, bin string) {
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(b.addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %s 127.0.0.1\npersistence false\nuser root\nmax_packet_size %d\nmax_queued_messages 100000\n", port, 300<<10)
	if b.opts.Anonymous {
		conf.WriteString("allow_anonymous true\n")
	} else {
		pw := filepath.Join(dir, "passwd")
		lines := []string{Host.Name + ":" + Host.Password}
		for _, a := range b.opts.Agents {
			lines = append(lines, a+":"+AgentPassword)
		}
		if err := os.WriteFile(pw, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// mosquitto_passwd -U hashes a plain user:password file in place.
		pwbin, err := exec.LookPath("mosquitto_passwd")
		if err != nil {
			pwbin = "/usr/bin/mosquitto_passwd"
		}
		if out, err := exec.Command(pwbin, "-U", pw).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd -U: %v: %s", err, out)
		}
		acl := filepath.Join(dir, "acl")
		aclText := "user " + Host.Name + "\ntopic readwrite edgenas/v1/#\n\n" +
			"pattern write edgenas/v1/agents/%u/info\npattern write edgenas/v1/agents/%u/status\n" +
			"pattern write edgenas/v1/agents/%u/result\npattern write edgenas/v1/agents/%u/install\n" +
			"pattern read edgenas/v1/agents/%u/job\npattern read edgenas/v1/agents/%u/ack\npattern read edgenas/v1/agents/%u/deploy\npattern read edgenas/v1/agents/%u/keys\n"
		if err := os.WriteFile(acl, []byte(aclText), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\nacl_file %s\n", pw, acl)
	}
	b.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.logf = f
	b.cmd = exec.Command(bin) // template: start() copies Path
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.Kind {
	case Embedded:
		var err error
		// The port may linger briefly after a close; retry the bind.
		poll(5*time.Second, func() bool {
			b.emb, err = broker.Start(broker.Config{Addr: b.addr, Users: []broker.User{Host}, AgentPassword: AgentPassword})
			return err == nil
		})
		return err
	case Mosquitto:
		cmd := exec.Command(b.cmd.Path, "-c", b.conf)
		cmd.Stdout, cmd.Stderr = b.logf, b.logf
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start mosquitto: %w", err)
		}
		b.cmd = cmd
		listening := poll(5*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", b.addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		if listening {
			return nil
		}
		log, _ := os.ReadFile(b.logf.Name())
		return fmt.Errorf("mosquitto did not listen on %s: %s", b.addr, log)
	}
	return fmt.Errorf("unknown broker kind %q", b.Kind)
}

// Stop stops the broker (mosquitto is killed, as a crash would).
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.emb != nil {
		b.emb.Close()
		b.emb = nil
	}
	if b.cmd != nil && b.cmd.Process != nil && b.cmd.ProcessState == nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	}
}

// Restart stops the broker and starts it again on the same port, losing
// every session, queued and retained message.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

// Log returns mosquitto's log so far ("" for the embedded broker).
func (b *Broker) Log() string {
	if b.logf == nil {
		return ""
	}
	out, _ := os.ReadFile(b.logf.Name())
	return string(out)
}
