package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"

	"edgenas/fleet/dashboard"
)

// addDashboard puts the dashboard pages and /metrics on serve's mux.
func (s *server) addDashboard() error {
	s.devs = dashboard.NewDevices()
	s.metrics = dashboard.NewMetrics(s.devs, s.st)
	d, err := dashboard.New(dashboard.Config{Devices: s.devs, Rollouts: s.st, Abort: s.abortRollout,
		Password: s.cfg.Broker.Password, SecureCookies: s.cfg.TLSCert != "", LUT: s.cfg.LUT, Validate: s.cfg.LUTValidate,
		Runs: s.cfg.Runs, Metrics: s.metrics, Logger: s.log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	d.Register(s.mux)
	return nil
}

// watchFleet subscribes the dashboard to the agents' messages with its own
// broker client.
func (s *server) watchFleet(ctx context.Context) (func(), error) {
	cfg := s.cfg.Broker
	cfg.ClientID = fmt.Sprintf("edgenas-serve-dash-%d", os.Getpid())
	return dashboard.Watch(ctx, cfg, s.devs, s.metrics)
}

// abortRollout hands an operator's abort to the rollout's engine.
func (s *server) abortRollout(id, reason string) error {
	s.mu.Lock()
	er := s.running[id]
	s.mu.Unlock()
	if er == nil {
		return fmt.Errorf("rollout %s is not running here", id)
	}
	select {
	case er.abort <- reason:
		return nil
	default:
		return errors.New("an abort is already on its way")
	}
}

// apiTLS checks that the API and pages stay on loopback unless they are
// served over TLS (with a login for the pages' actions), and loads the
// certificate.
func (s *server) apiTLS() (*tls.Config, error) {
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return nil, errors.New("serve: give both --https-cert and --https-key")
	}
	if s.cfg.TLSCert == "" {
		host, _, err := net.SplitHostPort(s.cfg.Listen)
		if err != nil {
			return nil, nil // listen reports the malformed address
		}
		if !IsLoopback(host) {
			return nil, fmt.Errorf("serve: --listen %s is not loopback: serve the dashboard over TLS (--https-cert, --https-key)", s.cfg.Listen)
		}
		return nil, nil
	}
	if s.cfg.Broker.Password == "" {
		return nil, errors.New("serve: a dashboard off loopback needs a login: set the host credential (EDGENAS_HOST_PASSWORD)")
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("serve: --https-cert/--https-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// IsLoopback reports whether a listen host (of HOST:PORT) is loopback only,
// where unauthenticated pages may be served.
func IsLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
