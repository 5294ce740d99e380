package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/internal/signing"
)

func agentCommand() *command {
	var cfg agent.Config
	var verbose bool
	var trust, cpuList string
	var bm benchModelFlags
	var pw secretFlags
	var tf tlsFlags
	return &command{
		name:    "agent",
		summary: "run the device daemon: announce the device, measure jobs from the fleet host, return results, install deployed models",
		usage:   "--broker mqtts://HOST:PORT --id NAME --tls-ca ca.crt --tls-cert ID.crt --tls-key ID.key [--class CLASS] [--tag KEY=VALUE]... [--data-dir DIR] [--backend xnnpack|ref|benchmark-model [--delegate D]] [--cpus LIST] [--trust host.pub]\n       (development: --broker tcp://HOST:PORT with the password in --password-file or $EDGENAS_AGENT_PASSWORD)",
		example: "edgenas agent --broker mqtts://192.168.1.10:8883 --id pixel7-01 --class pixel7 --tag soc=tensor-g2 --backend xnnpack --trust ~/.edgenas/host.pub \\\n    --tls-ca ~/.edgenas/pixel7-01/ca.crt --tls-cert ~/.edgenas/pixel7-01/pixel7-01.crt --tls-key ~/.edgenas/pixel7-01/pixel7-01.key",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Broker, "broker", "", "broker URL, mqtts://HOST:PORT (or tcp://HOST:PORT for development)")
			fs.StringVar(&cfg.ID, "id", "", "agent id (also the broker user name)")
			fs.StringVar(&cfg.Class, "class", "default", "device class (devices of one class share a LUT)")
			fs.Func("tag", "device tag KEY=VALUE, repeatable (e.g. soc=tensor-g2); deploy --to tag:KEY=VALUE and fleet profile --tag select by it",
				func(s string) error { return proto.AddTag(&cfg.Tags, s) })
			fs.StringVar(&cfg.DataDir, "data-dir", "", "state directory (default ~/.edgenas/agent-ID)")
			fs.StringVar(&cfg.Backend, "backend", "xnnpack", "backend: xnnpack, ref or benchmark-model (TFLite's tool, with --delegate)")
			fs.StringVar(&cfg.Username, "user", "", "broker user name (default: the id)")
			pw.register(fs, "EDGENAS_AGENT_PASSWORD")
			tf.register(fs)
			fs.BoolVar(&cfg.ArtifactHTTP, "artifact-http", false, "with --tls-ca, still download artifacts from plain http:// URLs "+
				"(development; by default only https servers with a certificate from that CA are trusted)")
			fs.DurationVar(&cfg.Heartbeat, "heartbeat", 2*time.Second, "status interval")
			fs.DurationVar(&cfg.Resend, "resend", 5*time.Second, "re-send interval of unacknowledged results")
			fs.StringVar(&trust, "trust", "", "host public key (host.pub from `edgenas keys init`); without it every deploy is refused")
			fs.BoolVar(&verbose, "v", false, "log every job and install")
			bm.register(fs)
			fs.StringVar(&cpuList, "cpus", "", "pin measurements to these CPUs, e.g. 4-7 for a phone's big cores (see core_clusters in the device info)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("agent takes no arguments")
			}
			if cfg.Broker == "" || cfg.ID == "" {
				return usagef("agent needs --broker and --id")
			}
			if err := completeAgentConfig(&cfg, &pw, &tf, &bm, cpuList, trust, verbose, e); err != nil {
				return err
			}
			a, err := agent.New(cfg)
			if err != nil {
				return usagef("%v", err)
			}
			fmt.Fprintf(e.stderr, "agent %s (class %s, backend %s) -> %s, state in %s\n", cfg.ID, cfg.Class, a.Backend(), cfg.Broker, cfg.DataDir)
			if set := a.TrustedKeys(); len(set.Keys) > 0 {
				fmt.Fprintf(e.stderr, "deploys signed by %s are accepted (trusted set %d); models in %s\n", strings.Join(set.IDs(), " "), set.Serial, a.Models().Root())
			} else {
				fmt.Fprintf(e.stderr, "no --trust key: every deploy will be refused\n")
			}
			return a.Run(ctx)
		},
	}
}

// completeAgentConfig fills cfg from the flags that need resolving:
// secrets, TLS, the benchmark_model backend, data directory, pinning, the
// trusted key, logging and the firmware installers.
func completeAgentConfig(cfg *agent.Config, pw *secretFlags, tf *tlsFlags, bm *benchModelFlags, cpuList, trust string,
	verbose bool, e *env) error {
	var err error
	if cfg.Password, err = pw.value(); err != nil {
		return usagef("%v", err)
	}
	if cfg.TLS, err = tf.config(); err != nil {
		return err
	}
	if err := agentToolBackend(cfg, bm); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no --data-dir and no home directory: %w", err)
		}
		cfg.DataDir = filepath.Join(home, ".edgenas", "agent-"+cfg.ID)
	}
	cpus, err := parseCPUsFlag(cpuList)
	if err != nil {
		return err
	}
	cfg.CPUs = cpus
	if trust != "" {
		pub, err := signing.LoadPublic(trust)
		if err != nil {
			return usagef("--trust: %v", err)
		}
		cfg.Trust = pub
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	cfg.Version = version
	installers, err := firmwareInstallers(*cfg) // the "agent" kind, under `firmware run`
	if err != nil {
		return err
	}
	cfg.Installers = installers
	return nil
}
