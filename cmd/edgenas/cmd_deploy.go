package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/bundle"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
	"edgenas/runtime/backends"
)

// deployFlags are the flags of `deploy` and `deploy status` (one flag set:
// the CLI's commands are either groups or leaves, and `deploy` must be both).
type deployFlags struct {
	hf                hostFlags
	kf                keysFlags
	model, to, name   string
	bundle            string
	version           uint64
	canary            int
	maxFailPct        float64
	timeout, wait     time.Duration
	listen, advertise string
	artTLS            artifactTLSFlags
	state, rolloutID  string
	resume            string
	inputSeed         uint64
	maxDiff           int
	checkBackend      string
	healthCheck       string
	minAgent          string
	asJSON, verbose   bool
	inProcess, follow bool
	fs                *flag.FlagSet
}

func (d *deployFlags) register(fs *flag.FlagSet) {
	d.fs = fs
	d.hf.register(fs)
	d.kf.register(fs)
	fs.StringVar(&d.model, "model", "", "int8 .tflite model to roll out")
	fs.StringVar(&d.bundle, "agent-bundle", "", "signed agent bundle (edgenas firmware bundle) to roll out instead of a model: an over-the-air agent update")
	fs.StringVar(&d.to, "to", "", "targets: an agent id, class:CLASS, tag:KEY=VALUE (agents started with --tag KEY=VALUE), or all")
	fs.StringVar(&d.name, "name", "", "model name on the devices (default: the file name without .tflite)")
	fs.Uint64Var(&d.version, "version", 0, "version to install (default: the latest version of --name if these are its bytes, else one more than any this host signed; recorded in KEYDIR/versions.json)")
	fs.IntVar(&d.canary, "canary", 1, "agents that get it first; the rest only after every canary committed")
	fs.Float64Var(&d.maxFailPct, "max-failure-pct", 10, "abort when more than this % of the devices sent so far failed")
	fs.DurationVar(&d.timeout, "timeout", 2*time.Minute, "a device silent this long counts as failed")
	fs.DurationVar(&d.wait, "wait", time.Second, "how long to collect the agents' retained announcements")
	fs.StringVar(&d.listen, "listen", "127.0.0.1:0", "artifact HTTP server address (use HOST:PORT reachable by the devices)")
	fs.StringVar(&d.advertise, "advertise", "", "base URL agents download from (default http://LISTEN, https:// with --artifact-tls-cert; required with --listen :PORT)")
	d.artTLS.register(fs)
	fs.StringVar(&d.state, "state", "", "rollout state directory (default ~/.edgenas/deploy)")
	fs.StringVar(&d.resume, "resume", "", "continue an interrupted rollout by id (serves on its original address unless --listen)")
	fs.Uint64Var(&d.inputSeed, "input-seed", rollout.DefaultInputSeed, "seed of the fixed health-check input")
	fs.IntVar(&d.maxDiff, "max-diff", rollout.DefaultMaxDiff, "largest |difference| in quanta between a device's output and the host's")
	fs.StringVar(&d.checkBackend, "check-backend", defaultCheckBackend(), "backend the host computes the expected health-check output on (agents on another backend are held to the top-1 class only)")
	fs.StringVar(&d.healthCheck, "check", "", "model health check: output (devices must reproduce the host's output, then are timed) or timing\n"+
		"(devices run and time the model, no output compared; needed for agents on benchmark_model); default output,\n"+
		"or timing with a warning naming the operators when --check-backend cannot run the model")
	fs.StringVar(&d.minAgent, "min-agent-version", "", "oldest agent version allowed to install it")
	fs.StringVar(&d.rolloutID, "rollout", "", "status: the rollout to show (default: the latest)")
	fs.BoolVar(&d.asJSON, "json", false, "print the rollout as JSON")
	fs.BoolVar(&d.verbose, "v", false, "log every install report")
	fs.BoolVar(&d.inProcess, "in-process", false, "run the rollout in this process even when an edgenas serve owns --state")
	fs.BoolVar(&d.follow, "follow", false, "with edgenas serve: wait for the registered rollout to end, as an in-process deploy does")
}

func (d *deployFlags) stateDir() (string, error) {
	if d.state != "" {
		return d.state, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --state and no home directory: %w", err)
	}
	return filepath.Join(home, ".edgenas", "deploy"), nil
}

// setFlags names the flags given on the command line.
func (d *deployFlags) setFlags() []string {
	var out []string
	d.fs.Visit(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

func deployCommand() *command {
	var d deployFlags
	return &command{
		name:    "deploy",
		summary: "signed, canary-first rollout of a model to agents; `deploy status` shows each device's state",
		usage: "--model m.tflite --to AGENT|class:C|tag:K=V|all [--name N] [--version V] [--canary N] [--max-failure-pct P] [--timeout D]\n" +
			"         [--check output|timing] [--check-backend B] [--max-diff Q] [--input-seed S]\n" +
			"         [--listen ADDR] [--advertise URL] [--artifact-tls-cert F --artifact-tls-key F] [--broker URL] [--keys DIR] [--state DIR] [--json]\n" +
			"       edgenas deploy status [--state DIR] [--rollout ID] [--keys DIR] [--json]\n" +
			"       (with an edgenas serve owning --state, deploy registers the rollout with it and returns, or with --follow waits\n" +
			"       for its end; --in-process runs it here)",
		example: "EDGENAS_HOST_PASSWORD=h edgenas deploy --model fmnist.tflite --to class:pi4 --canary 2 --max-failure-pct 20 \\\n" +
			"    --listen 0.0.0.0:8080 --advertise https://192.168.1.10:8080 --artifact-tls-cert artifacts.crt --artifact-tls-key artifacts.key\n" +
			"edgenas deploy --model keyword_scrambled_8bit.tflite --to class:phones --check timing   # agents on benchmark_model\n" +
			"edgenas deploy --model fmnist.tflite --to tag:soc=tensor-g2   # agents started with --tag soc=tensor-g2\n" +
			"edgenas deploy status --json",
		flags: d.register,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) == 1 && args[0] == "status" {
				for _, f := range d.setFlags() {
					switch f {
					case "state", "rollout", "json", "keys", "dir":
					default:
						return usagef("deploy status: --%s is a flag of deploy, not of deploy status", f)
					}
				}
				return runDeployStatus(ctx, e, &d)
			}
			if len(args) != 0 {
				return usagef("deploy takes no arguments (did you mean `deploy status`?), got %q", args)
			}
			if d.rolloutID != "" {
				return usagef("--rollout is a flag of deploy status; to continue a rollout use --resume ID")
			}
			return runDeploy(ctx, e, &d)
		},
	}
}

var nameSanitizer = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// check refuses flag combinations a rollout cannot run with.
func (d *deployFlags) check() error {
	if d.model != "" && d.bundle != "" {
		return usagef("deploy takes --model or --agent-bundle, not both")
	}
	artifact := d.model + d.bundle
	if d.resume == "" && (artifact == "" || d.to == "") {
		return usagef("deploy needs --model (or --agent-bundle) and --to (or --resume ID)")
	}
	if d.resume != "" && (artifact != "" || d.to != "") {
		return usagef("--resume continues a rollout as it was planned: drop --model, --agent-bundle and --to")
	}
	if d.timeout <= 0 {
		return usagef("--timeout %s: want > 0", d.timeout)
	}
	if d.maxFailPct < 0 || d.maxFailPct > 100 {
		return usagef("--max-failure-pct %g: want 0..100", d.maxFailPct)
	}
	if d.canary < 1 {
		return usagef("--canary %d: want >= 1", d.canary)
	}
	switch d.healthCheck {
	case "", proto.CheckOutput, proto.CheckTiming:
	default:
		return usagef("--check %q: want %s or %s", d.healthCheck, proto.CheckOutput, proto.CheckTiming)
	}
	if d.healthCheck != "" && d.bundle != "" {
		return usagef("--check is the health check of a model; an agent bundle's is the new agent coming up")
	}
	return nil
}

// resumeRollout loads the rollout --resume names and, unless told where to
// listen, serves its artifact where its signed manifest says it is.
func resumeRollout(st *rollout.Store, d *deployFlags) (*rollout.Rollout, error) {
	r, err := st.Load(d.resume)
	if err != nil {
		return nil, err
	}
	if r.Phase == rollout.PhaseDone || r.Phase == rollout.PhaseAborted {
		return nil, fmt.Errorf("rollout %s already ended (%s); nothing to resume", r.ID, r.Phase)
	}
	if !setFlag(d, "listen") && d.advertise == "" {
		u, err := url.Parse(r.URL)
		if err != nil {
			return nil, fmt.Errorf("rollout %s: url %q: %w", r.ID, r.URL, err)
		}
		d.listen = u.Host
	}
	return r, nil
}

// warnLoopback says when agents on other machines could not download, and
// what would serve them (fix).
func warnLoopback(e *env, base, fix string) {
	if u, err := url.Parse(base); err == nil {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			fmt.Fprintf(e.stderr, "note: artifacts are served on loopback (%s): only agents on this machine can download them; "+
				"%s for devices on the network\n", base, fix)
		}
	}
}

func runDeploy(ctx context.Context, e *env, d *deployFlags) error {
	if err := d.check(); err != nil {
		return err
	}
	dir, err := d.stateDir()
	if err != nil {
		return err
	}
	st, err := rollout.OpenStore(dir)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if d.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if done, err := deployToServe(ctx, e, d, st, log); done || err != nil {
		return err
	}

	var r *rollout.Rollout
	model := d.model + d.bundle
	if d.resume != "" {
		if r, err = resumeRollout(st, d); err != nil {
			return err
		}
		model = ""
	}
	// The artifact server must be up before any agent is told where to fetch.
	atc, err := d.artTLS.config()
	if err != nil {
		return err
	}
	srv, art, err := serveArtifact(st, model, r, d.listen, d.advertise, atc)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(sctx); err != nil {
			log.Warn("artifact server", "err", err)
		}
	}()
	warnLoopback(e, srv.Base(), "use --listen HOST:PORT (and --advertise)")
	if r != nil && srv.URL(r.SHA256) != r.URL {
		return fmt.Errorf("rollout %s: its manifest names %s, but the artifact is now served at %s (use --listen/--advertise to match)",
			r.ID, r.URL, srv.URL(r.SHA256))
	}

	cc, err := d.hf.conn()
	if err != nil {
		return err
	}
	conn, err := rollout.Dial(ctx, cc, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	if r == nil {
		if r, err = planRollout(ctx, e, d, st, conn, art, srv.URL(art.SHA256)); err != nil {
			return err
		}
		if err := st.Save(r); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "deploy %s: %s v%d (%d bytes, sha256 %.12s) to %d devices, %d canaries first, serving %s\n",
		r.ID, r.Name, r.Version, r.Size, r.SHA256, len(r.Devices), r.Canary, srv.Base())
	runErr := rollout.Run(ctx, st, r, conn, rollout.Options{Progress: e.stderr, Logger: log})
	if err := printRollout(e.stdout, r, d.asJSON); err != nil {
		return err
	}
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		return fmt.Errorf("deploy %s interrupted; state in %s (continue with `edgenas deploy --resume %s --state %s`): %w",
			r.ID, st.Dir(), r.ID, st.Dir(), runErr)
	}
	return runErr
}

func setFlag(d *deployFlags, name string) bool {
	for _, f := range d.setFlags() {
		if f == name {
			return true
		}
	}
	return false
}

// serveArtifact stores the model (a new rollout) and starts the server; a
// resumed rollout's artifact must still be in the store.
func serveArtifact(st *rollout.Store, model string, r *rollout.Rollout, listen, advertise string, tc *tls.Config) (*rollout.Server, rollout.Artifact, error) {
	var art rollout.Artifact
	var err error
	if r == nil {
		if art, err = st.AddArtifact(model); err != nil {
			return nil, art, err
		}
	} else {
		art = rollout.Artifact{SHA256: r.SHA256, Size: r.Size, Path: filepath.Join(st.ArtifactDir(), r.SHA256)}
		if fi, err := os.Stat(art.Path); err != nil || fi.Size() != r.Size {
			return nil, art, fmt.Errorf("rollout %s: artifact %s missing from %s", r.ID, r.SHA256, st.ArtifactDir())
		}
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, art, usagef("--listen %q: want HOST:PORT", listen)
	}
	srv, err := st.Serve(listen, advertise, tc)
	if err != nil {
		return nil, art, err
	}
	return srv, art, nil
}

// planRollout resolves the targets and builds and signs the manifest of a
// new rollout whose artifact agents fetch at artURL.
func planRollout(ctx context.Context, e *env, d *deployFlags, st *rollout.Store, conn *rollout.Conn, art rollout.Artifact,
	artURL string) (*rollout.Rollout, error) {
	keyDir, err := d.kf.path()
	if err != nil {
		return nil, err
	}
	key, err := hostKey(&d.kf)
	if err != nil {
		return nil, err
	}
	if d.bundle != "" {
		return planAgentRollout(ctx, e, d, conn, art, artURL, key)
	}
	name := d.name
	if name == "" {
		name = nameSanitizer.ReplaceAllString(strings.TrimSuffix(filepath.Base(d.model), filepath.Ext(d.model)), "-")
		name = strings.TrimLeft(name, "-_.")
	}
	if err := proto.ValidID(name); err != nil {
		return nil, usagef("--name: %v", err)
	}
	// The version comes from the key directory's record as well as the
	// state's rollouts, so a fresh --state never signs an old version for
	// other bytes (agents refuse that, and it would hide what is installed).
	next, err := st.NextVersion(name)
	if err != nil {
		return nil, err
	}
	version, err := rollout.AssignVersion(filepath.Join(keyDir, rollout.VersionsFile), name, art.SHA256, d.version, next-1)
	if err != nil {
		return nil, err
	}
	agents, err := conn.Agents(ctx, d.wait)
	if err != nil {
		return nil, err
	}
	targets, err := rollout.Resolve(d.to, agents)
	if err != nil {
		return nil, err
	}
	warnUntrusted(e, targets, key)
	ch, err := rollout.ChooseCheck(art.Path, d.checkBackend, d.healthCheck, targets)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", d.model, err)
	}
	if ch.Why != "" {
		fmt.Fprintf(e.stderr, "warning: %s; give --check output to refuse such a model instead\n", ch.Why)
	}
	created := time.Now().UTC()
	m, err := rollout.ModelManifest(art, rollout.ManifestOptions{Name: name, Version: version, URL: artURL,
		InputSeed: d.inputSeed, MaxDiff: d.maxDiff, Backend: d.checkBackend, Check: ch.Mode, MinAgentVersion: d.minAgent, Created: created})
	if err != nil {
		return nil, err
	}
	env, err := rollout.SignManifest(key, m)
	if err != nil {
		return nil, err
	}
	keyID := signing.KeyID(key.Public().(ed25519.PublicKey))
	if m.HealthCheck() == proto.CheckTiming {
		fmt.Fprintf(e.stderr, "signed with key %s; health check: timing only (seed %d; no output compared)\n", keyID, m.InputSeed)
	} else {
		fmt.Fprintf(e.stderr, "signed with key %s; health check: output, expected on seed %d: %d int8 values (max diff %d)\n",
			keyID, m.InputSeed, len(m.Expected), m.MaxDiff)
	}
	return rollout.NewRollout(rollout.NewID(name, version, created), m, env, d.to, targets, d.canary, d.maxFailPct,
		d.timeout.Seconds()), nil
}

// rolloutView is a rollout as printed: its counts added, the signed
// manifest left out (it is in the state file).
type rolloutView struct {
	*rollout.Rollout
	Manifest *struct{}      `json:"manifest,omitempty"`
	Counts   rollout.Counts `json:"counts"`
}

func printRollout(w io.Writer, r *rollout.Rollout, asJSON bool) error {
	if asJSON {
		return writeJSON(w, rolloutView{Rollout: r, Counts: r.Counts()})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tCLASS\tCANARY\tSTATE\tVERSION\tLATENCY\tPROGRESS\tREASON")
	for _, dv := range r.Devices {
		canary, lat, prog, ver := "", "-", "-", "-"
		if dv.Canary {
			canary = "yes"
		}
		if dv.LatencyMS > 0 {
			lat = fmt.Sprintf("%.2f ms", dv.LatencyMS)
		}
		if dv.Size > 0 {
			prog = fmt.Sprintf("%d/%d B", dv.Bytes, dv.Size)
		}
		if dv.Version > 0 {
			ver = fmt.Sprint(dv.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dv.Agent, dv.Class, canary, dv.State, ver, lat, prog, dv.Reason)
	}
	tw.Flush()
	c := r.Counts()
	fmt.Fprintf(w, "rollout %s: %s v%d, phase %s: %d committed, %d failed, %d skipped, %d in progress of %d\n",
		r.ID, r.Name, r.Version, r.Phase, c.Committed, c.Failed, c.Skipped, c.Pending, c.Total)
	if r.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", r.Reason)
	}
	return nil
}

func runDeployStatus(ctx context.Context, e *env, d *deployFlags) error {
	dir, err := d.stateDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("deploy status: state directory %s: %w", dir, err)
	}
	st, err := rollout.OpenStore(dir)
	if err != nil {
		return err
	}
	if done, err := statusFromServe(ctx, e, d, st); done || err != nil {
		return err
	}
	var r *rollout.Rollout
	if d.rolloutID != "" {
		r, err = st.Load(d.rolloutID)
	} else {
		r, err = st.Latest()
	}
	if err != nil {
		return err
	}
	return printRollout(e.stdout, r, d.asJSON)
}

// defaultCheckBackend is xnnpack when this host has it (agents default to
// it, so their outputs are compared quantum by quantum), else ref.
func defaultCheckBackend() string {
	for _, b := range backends.Available() {
		if b == "xnnpack" {
			return b
		}
	}
	return "ref"
}

// planAgentRollout is planRollout for an agent bundle: the bundle's signed
// manifest (checked against this host's key) gives the version and target.
func planAgentRollout(ctx context.Context, e *env, d *deployFlags, conn *rollout.Conn, art rollout.Artifact,
	artURL string, key ed25519.PrivateKey) (*rollout.Rollout, error) {
	bm, err := bundle.ReadManifest(d.bundle, signing.Only(key.Public().(ed25519.PublicKey)))
	if err != nil {
		return nil, fmt.Errorf("deploy --agent-bundle: %w", err)
	}
	if d.version != 0 && d.version != bm.Version {
		return nil, usagef("--version %d: an agent bundle deploys as its own version %d", d.version, bm.Version)
	}
	name := d.name
	if name == "" {
		name = "agent"
	}
	if err := proto.ValidID(name); err != nil {
		return nil, usagef("--name: %v", err)
	}
	agents, err := conn.Agents(ctx, d.wait)
	if err != nil {
		return nil, err
	}
	targets, err := rollout.Resolve(d.to, agents)
	if err != nil {
		return nil, err
	}
	warnUntrusted(e, targets, key)
	created := time.Now().UTC()
	m, err := rollout.AgentManifest(art, rollout.ManifestOptions{Name: name, Version: bm.Version, URL: artURL,
		MinAgentVersion: d.minAgent, Created: created}, bm.Target)
	if err != nil {
		return nil, err
	}
	env, err := rollout.SignManifest(key, m)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "agent bundle v%d (%s, agent %s) signed with key %s\n", bm.Version, bm.Target, bm.AgentVersion,
		signing.KeyID(key.Public().(ed25519.PublicKey)))
	return rollout.NewRollout(rollout.NewID(name, bm.Version, created), m, env, d.to, targets, d.canary, d.maxFailPct,
		d.timeout.Seconds()), nil
}
