package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	"edgenas/fleet/serve"
	"edgenas/internal/pki"
	"edgenas/internal/signing"
)

// artifactTLSFlags give the artifact server a certificate, so agents that
// hold the fleet CA (--tls-ca) download over https and verify the server.
type artifactTLSFlags struct{ cert, key string }

func (a *artifactTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.cert, "artifact-tls-cert", "", "serve artifacts over https with this certificate `file` "+
		"('edgenas keys device issue --role server --host ADDRESS', signed by the fleet CA the agents hold)")
	fs.StringVar(&a.key, "artifact-tls-key", "", "the private key of --artifact-tls-cert")
}

// config is the artifact server's TLS configuration, nil for plain http.
func (a *artifactTLSFlags) config() (*tls.Config, error) {
	if a.cert == "" && a.key == "" {
		return nil, nil
	}
	if a.cert == "" || a.key == "" {
		return nil, usagef("--artifact-tls-cert and --artifact-tls-key go together")
	}
	tc, err := pki.ServerTLS(a.cert, a.key, "", false)
	if err != nil {
		return nil, usagef("artifact TLS: %v", err)
	}
	return tc, nil
}

// hostPublicKey loads the public half of the host's signing key.
func hostPublicKey(kf *keysFlags) (ed25519.PublicKey, error) {
	keyDir, err := kf.path()
	if err != nil {
		return nil, err
	}
	pub, err := signing.LoadPublic(filepath.Join(keyDir, signing.PublicFile))
	if err != nil {
		return nil, fmt.Errorf("serve: %w (create the host key with `edgenas keys init --dir %s`)", err, keyDir)
	}
	return pub, nil
}

func serveCommand() *command {
	var hf hostFlags
	var kf keysFlags
	var at artifactTLSFlags
	var state, listen, artListen, advertise string
	var lutFile, lutValidate, runs, httpsCert, httpsKey string
	var verbose, asJSON bool
	return &command{
		name: "serve",
		summary: "long-running host: owns the rollout state and artifacts, runs every rollout `deploy` registers " +
			"until it ends by its own policy, resumes them after a restart",
		usage: "[--state DIR] [--listen ADDR] [--artifact-listen ADDR [--artifact-tls-cert F --artifact-tls-key F]] [--advertise URL] [--broker URL] [--keys DIR]\n" +
			"       [--lut FILE] [--lut-validate DIR] [--runs DIR] [--https-cert F --https-key F] [--json] [-v]",
		example: "EDGENAS_HOST_PASSWORD=h edgenas serve --state ~/.edgenas/deploy --artifact-listen 0.0.0.0:8481 \\\n" +
			"    --artifact-tls-cert srv/artifacts.crt --artifact-tls-key srv/artifacts.key --advertise https://192.168.1.10:8481 \\\n" +
			"    --lut lut.db --lut-validate cal/ --runs runs/ &   # dashboard: http://127.0.0.1:8480/\n" +
			"EDGENAS_HOST_PASSWORD=h edgenas deploy --model fmnist.tflite --to class:pi4   # registers with serve and returns\n" +
			"edgenas deploy status",
		flags: func(fs *flag.FlagSet) {
			hf.register(fs)
			kf.register(fs)
			at.register(fs)
			fs.StringVar(&state, "state", "", "rollout state directory, shared with deploy (default ~/.edgenas/deploy)")
			fs.StringVar(&listen, "listen", serve.DefaultListen, "API address (keep it on loopback; its requests are signed with the host key); "+
				"also serves the artifacts unless --artifact-listen")
			fs.StringVar(&artListen, "artifact-listen", "", "separate address serving only the artifacts, for devices on the network")
			fs.StringVar(&advertise, "advertise", "", "base URL devices download artifacts from (default http:// or, with --artifact-tls-cert, https:// and the artifact address)")
			fs.StringVar(&lutFile, "lut", "", "latency table the dashboard shows (read only)")
			fs.StringVar(&lutValidate, "lut-validate", "", "`lut validate --out` directory whose scatter plot the dashboard shows")
			fs.StringVar(&runs, "runs", "", "directory of search run directories the dashboard lists")
			fs.StringVar(&httpsCert, "https-cert", "", "certificate `file` to serve the API and dashboard over TLS (required off loopback)")
			fs.StringVar(&httpsKey, "https-key", "", "private key `file` of --https-cert")
			fs.BoolVar(&asJSON, "json", false, "print where serve listens as JSON once it is up")
			fs.BoolVar(&verbose, "v", false, "log every install report")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("serve takes no arguments")
			}
			atc, err := at.config()
			if err != nil {
				return err
			}
			d := deployFlags{state: state}
			dir, err := d.stateDir()
			if err != nil {
				return err
			}
			pub, err := hostPublicKey(&kf)
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			cc, err := hf.conn()
			if err != nil {
				return err
			}
			cfg := serve.Config{StateDir: dir, Listen: listen, ArtifactListen: artListen, Advertise: advertise, ArtifactTLS: atc, Trust: pub,
				Logger: log, Broker: cc, TLSCert: httpsCert, TLSKey: httpsKey, LUT: lutFile, LUTValidate: lutValidate, Runs: runs}
			err = serve.Run(ctx, cfg, func(info serve.Info) {
				if asJSON {
					writeJSON(e.stdout, info)
					return
				}
				fmt.Fprintf(e.stdout, "serve: api %s, artifacts %s, state %s (pid %d)\n", info.API, info.Artifacts, dir, info.PID)
				fmt.Fprintf(e.stdout, "serve: dashboard %s/ (metrics %s/metrics)\n", info.API, info.API)
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "serve: stopped; running rollouts resume at the next start")
			return nil
		},
	}
}
