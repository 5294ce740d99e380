package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"edgenas/fleet/broker"
	"edgenas/internal/pki"
)

// brokerFlags are the broker command's settings.
type brokerFlags struct {
	listen, tlsListen, tlsCert, tlsKey, clientCA string
	usersFile, hostUser, hostPassFile, agentPass string
	store, metricsListen                         string
	requireCert                                  bool
	bounds                                       broker.Config
}

func (f *brokerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:1883", "plain TCP address to listen on ('' for none); passwords cross it in clear")
	fs.StringVar(&f.tlsListen, "tls-listen", "", "TLS address to listen on, e.g. 0.0.0.0:8883 (needs --tls-cert and --tls-key)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "the broker's certificate, from 'edgenas keys device issue --role server'")
	fs.StringVar(&f.tlsKey, "tls-key", "", "the broker's private key")
	fs.StringVar(&f.clientCA, "client-ca", "", "CA whose certificates identify devices and hosts (ca.crt of 'edgenas keys ca init')")
	fs.BoolVar(&f.requireCert, "require-cert", false, "refuse TLS clients without a certificate (no password logins over TLS)")
	fs.StringVar(&f.usersFile, "users", "", "accounts `file`: one 'ROLE NAME BCRYPT-HASH' per line ('edgenas keys password' writes them)")
	fs.StringVar(&f.hostUser, "host-user", "host", "host account name (password from $EDGENAS_HOST_PASSWORD or --host-password-file)")
	fs.StringVar(&f.hostPassFile, "host-password-file", "", "file holding the host password (default $EDGENAS_HOST_PASSWORD)")
	fs.StringVar(&f.agentPass, "agent-password-file", "", "file holding a shared password admitting any agent id (development only; default $EDGENAS_AGENT_PASSWORD)")
	fs.StringVar(&f.store, "store", "", "file keeping retained messages and sessions across restarts (default: memory only)")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "loopback address serving Prometheus metrics at /metrics (clients, messages), e.g. 127.0.0.1:9883")
	fs.IntVar(&f.bounds.MaxRetained, "max-retained", broker.DefaultMaxRetained, "largest retained payload an agent may publish, bytes")
	fs.IntVar(&f.bounds.MaxSharedIDs, "max-shared-ids", broker.DefaultMaxSharedIDs, "how many agent ids the shared password admits")
	fs.Float64Var(&f.bounds.Rate, "rate", broker.DefaultRate, "publishes per second allowed to each agent connection")
	fs.IntVar(&f.bounds.Burst, "burst", broker.DefaultBurst, "publishes an agent connection may send at once above --rate")
}

// config resolves the flags, password files and certificates into the
// broker's configuration.
func (f *brokerFlags) config() (broker.Config, error) {
	if f.bounds.MaxRetained < 1 || f.bounds.MaxSharedIDs < 1 || f.bounds.Rate <= 0 || f.bounds.Burst < 1 {
		return broker.Config{}, usagef("--max-retained, --max-shared-ids, --rate and --burst must be positive")
	}
	cfg := f.bounds
	cfg.Addr, cfg.Store = f.listen, f.store
	if f.usersFile != "" {
		u, err := broker.LoadUsers(f.usersFile)
		if err != nil {
			return broker.Config{}, err
		}
		cfg.Users = u
	}
	hostPass, err := (&secretFlags{env: "EDGENAS_HOST_PASSWORD", file: f.hostPassFile}).value()
	if err != nil {
		return broker.Config{}, usagef("%v", err)
	}
	if hostPass != "" {
		cfg.Users = append(cfg.Users, broker.User{Name: f.hostUser, Password: hostPass, Role: broker.RoleHost})
	}
	if cfg.AgentPassword, err = (&secretFlags{env: "EDGENAS_AGENT_PASSWORD", file: f.agentPass}).value(); err != nil {
		return broker.Config{}, usagef("%v", err)
	}
	if f.tlsListen != "" {
		if cfg.TLS, err = pki.ServerTLS(f.tlsCert, f.tlsKey, f.clientCA, f.requireCert); err != nil {
			return broker.Config{}, usagef("%v", err)
		}
		cfg.TLSAddr = f.tlsListen
	} else if f.tlsCert != "" || f.tlsKey != "" || f.clientCA != "" || f.requireCert {
		return broker.Config{}, usagef("--tls-cert, --tls-key, --client-ca and --require-cert need --tls-listen")
	}
	if len(cfg.Users) == 0 && cfg.AgentPassword == "" && f.clientCA == "" {
		return broker.Config{}, usagef("no accounts: give --client-ca (certificates), --users, or set EDGENAS_HOST_PASSWORD/EDGENAS_AGENT_PASSWORD")
	}
	return cfg, nil
}

func brokerCommand() *command {
	var f brokerFlags
	return &command{
		name:    "broker",
		summary: "run the embedded MQTT broker: mutual TLS with device certificates (or passwords for development); each agent may use only its own client id and topics",
		usage: "[--tls-listen HOST:PORT --tls-cert broker.crt --tls-key broker.key --client-ca ca.crt] [--listen HOST:PORT] [--users FILE] [--store FILE]\n" +
			"       (development passwords: $EDGENAS_HOST_PASSWORD, $EDGENAS_AGENT_PASSWORD or --host-password-file/--agent-password-file)",
		example: "edgenas keys device issue --role server --id broker --host 192.168.1.10 --out ~/.edgenas/broker\n" +
			"edgenas broker --listen '' --tls-listen 0.0.0.0:8883 --tls-cert ~/.edgenas/broker/broker.crt --tls-key ~/.edgenas/broker/broker.key \\\n" +
			"    --client-ca ~/.edgenas/ca/ca.crt --require-cert --store ~/.edgenas/broker.db",
		flags: f.register,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("broker takes no arguments")
			}
			cfg, err := f.config()
			if err != nil {
				return err
			}
			cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			b, err := broker.Start(cfg)
			if err != nil {
				return err
			}
			if b.URL() != "" {
				fmt.Fprintf(e.stdout, "broker listening on %s (plain TCP)\n", b.URL())
			}
			if b.TLSURL() != "" {
				fmt.Fprintf(e.stdout, "broker listening on %s (TLS; client certificates from %s: %v)\n", b.TLSURL(), f.clientCA, f.clientCA != "")
			}
			if f.metricsListen != "" {
				url, stop, err := serveBrokerMetrics(f.metricsListen, b)
				if err != nil {
					b.Close()
					return err
				}
				defer stop()
				fmt.Fprintf(e.stdout, "broker metrics on %s\n", url)
			}
			fmt.Fprintf(e.stdout, "%d password accounts, shared agent password: %v\n", len(cfg.Users), cfg.AgentPassword != "")
			if cfg.AgentPassword != "" {
				fmt.Fprintln(e.stderr, "warning: the shared agent password lets its holder act as any agent id; use device certificates for a real fleet")
			}
			<-ctx.Done()
			fmt.Fprintln(e.stdout, "broker stopping")
			return b.Close()
		},
	}
}
