package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// demoConfig is what `edgenas demo` runs; the defaults fit the whole loop in
// well under 20 minutes on a 2-core machine, the flags scale it up.
type demoConfig struct {
	out          string
	space        string
	target       float64 // ms; 0: the middle of the space's range on the measured table
	searchEpochs float64
	searchFrac   float64
	trainEpochs  float64
	trainFrac    float64
	calib        int
	validate     int
	calibModels  int
	seed         uint64
	backend      string
	fastProfile  bool
	refImages    int
	evalImages   int
	// method is the search: "spnas" or "autoshrink" (on autoshrink-fmnist,
	// with the shrink settings below).
	method string
	shrink demoShrink
}

func demoCommand() *command {
	c := demoConfig{space: "spnas-fmnist", searchEpochs: 8, searchFrac: 0.1, trainEpochs: 2, trainFrac: 0.4,
		calib: 512, refImages: 1000, validate: 20, calibModels: 12, seed: 1, backend: "xnnpack"}
	return &command{
		name: "demo",
		summary: "the whole loop on this machine: broker and agent processes, fleet LUT, Single-Path NAS, train, " +
			"int8 quantization, signed rollout to the agent, report",
		usage:   "[--out DIR] [--target-ms T] [--search-epochs E] [--train-epochs E] [--data-frac F] [--seed S] [--json]",
		example: "edgenas demo --out demo-out   # then open demo-out/report.md",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&c.out, "out", "demo-out", "output directory (report.md and every artefact)")
			fs.Float64Var(&c.target, "target-ms", 0, "latency target (default: the middle of the space's range on the measured table)")
			fs.Float64Var(&c.searchEpochs, "search-epochs", c.searchEpochs, "Single-Path NAS search epochs")
			fs.Float64Var(&c.searchFrac, "search-data-frac", c.searchFrac, "fraction of the training split per search epoch")
			fs.Float64Var(&c.trainEpochs, "train-epochs", c.trainEpochs, "training epochs of the searched architecture")
			fs.Float64Var(&c.trainFrac, "data-frac", c.trainFrac, "fraction of the training split per training epoch")
			fs.IntVar(&c.calib, "calib", c.calib, "calibration images for int8 quantization")
			fs.IntVar(&c.evalImages, "eval-images", 0, "validation/test images for every accuracy (0: all; fewer for smoke tests)")
			fs.IntVar(&c.refImages, "ref-test-images", c.refImages, "test images for the int8 accuracy on the slow ref backend (0: all)")
			fs.IntVar(&c.validate, "validate-models", c.validate, "random models measured to check the latency predictor (0: skip)")
			fs.IntVar(&c.calibModels, "calibrate-models", c.calibModels, "random models measured before the search to calibrate the table, so the target is in measured ms (0: search on the raw table sum)")
			fs.Uint64Var(&c.seed, "seed", c.seed, "seed of the search and the training")
			fs.StringVar(&c.backend, "backend", c.backend, "backend of the local agent")
			fs.BoolVar(&c.fastProfile, "fast-profile", false, "profile with a quick, less precise protocol (smoke tests)")
			registerDemoShrink(fs, &c.method, &c.shrink)
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("demo takes no arguments")
			}
			if c.searchEpochs <= 0 || c.trainEpochs <= 0 || c.calib <= 0 {
				return usagef("--search-epochs, --train-epochs and --calib must be positive")
			}
			if err := c.shrink.apply(&c); err != nil {
				return err
			}
			return runDemo(ctx, e, c)
		},
	}
}

// demo carries the state of one demo run between its steps.
type demo struct {
	cfg    demoConfig
	e      *env
	out    string
	logs   string
	step   int
	total  int
	start  time.Time
	broker string
	// agentIDs are the demo's agents: two processes of one class, so the
	// table, the calibration and the pick's timing are the class's.
	agentIDs []string
	procs    []*exec.Cmd
	r        demoReport
}

func runDemo(ctx context.Context, e *env, cfg demoConfig) (err error) {
	out, err := filepath.Abs(cfg.out)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d := &demo{cfg: cfg, e: e, out: out, logs: filepath.Join(out, "logs"), total: 10, start: time.Now(),
		agentIDs: []string{"local-1", "local-2"}}
	for _, dir := range []string{out, d.logs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	defer d.stopProcesses()
	d.r.Started = d.start
	d.r.Out = out
	d.r.EvalImages = cfg.evalImages
	d.r.Method = cfg.method
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"keys", d.keys},
		{"broker", d.startBroker},
		{"agents", d.startAgents},
		{"fleet profile", d.profile},
		{"calibrate", d.calibrate},
		{"search", d.search},
		{"train", d.train},
		{"quantize", d.quantize},
		{"measure", d.measure},
		{"deploy", d.deploy},
		{"validate", d.validatePredictor},
	}
	d.total = len(steps)
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.step++
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			d.r.Failed = fmt.Sprintf("step %d (%s): %v", d.step, s.name, err)
			// A partial report still says where everything is and what failed.
			_ = d.writeReport()
			return fmt.Errorf("demo step %d/%d (%s): %w", d.step, d.total, s.name, err)
		}
		d.r.Steps = append(d.r.Steps, demoStep{Name: s.name, Seconds: time.Since(t0).Seconds()})
	}
	d.r.Seconds = time.Since(d.start).Seconds()
	d.r.Dashboard = d.dashboardCommands()
	if err := d.writeReport(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "demo done in %s: %s\n", time.Since(d.start).Round(time.Second), filepath.Join(out, "report.md"))
	d.printDashboard(e.stdout)
	return nil
}

// announce prints the step banner: where the demo is and how long it has run.
func (d *demo) announce(format string, a ...any) {
	fmt.Fprintf(d.e.stderr, "\n== demo [%d/%d, %s elapsed] %s\n", d.step, d.total,
		time.Since(d.start).Round(time.Second), fmt.Sprintf(format, a...))
}

// cli runs one edgenas command in this process, exactly as a user would type
// it (printed first), keeps its stdout in logs/NAME.out and returns it.
// Progress goes to stderr as the command prints it.
func (d *demo) cli(ctx context.Context, name string, args ...string) ([]byte, error) {
	fmt.Fprintf(d.e.stderr, "$ edgenas %s\n", strings.Join(args, " "))
	var buf bytes.Buffer
	code := execute(ctx, &env{stdout: &buf, stderr: d.e.stderr}, args)
	if werr := os.WriteFile(filepath.Join(d.logs, name+".out"), buf.Bytes(), 0o644); werr != nil {
		return nil, fmt.Errorf("%s: %w", name, werr)
	}
	if code != 0 {
		return buf.Bytes(), fmt.Errorf("edgenas %s exited %d (output in %s)", args[0], code, filepath.Join(d.logs, name+".out"))
	}
	return buf.Bytes(), nil
}

// cliJSON is cli with --json output decoded into v.
func (d *demo) cliJSON(ctx context.Context, v any, name string, args ...string) error {
	b, err := d.cli(ctx, name, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: reading its JSON output: %w", name, err)
	}
	return nil
}

func (d *demo) path(elem ...string) string { return filepath.Join(append([]string{d.out}, elem...)...) }

func (d *demo) keys(ctx context.Context) error {
	d.announce("host signing key, fleet CA, certificates for the broker, the host and the agents")
	if _, err := os.Stat(d.path("keys", "host.key")); err == nil {
		fmt.Fprintf(d.e.stderr, "reusing %s\n", d.path("keys", "host.key"))
	} else if _, err := d.cli(ctx, "keys", "keys", "init", "--dir", d.path("keys")); err != nil {
		return err
	}
	if _, err := os.Stat(d.path("keys", "ca", "ca.key")); err == nil {
		fmt.Fprintf(d.e.stderr, "reusing %s\n", d.path("keys", "ca", "ca.key"))
	} else if _, err := d.cli(ctx, "keys-ca", "keys", "ca", "init", "--dir", d.path("keys")); err != nil {
		return err
	}
	// Every connection is mutual TLS: no password exists to leak; the
	// artifact server's certificate lets agents check downloads against the CA.
	certs := []struct{ id, role string }{{"broker", "server"}, {"artifacts", "server"}, {"host", "host"}}
	for _, id := range d.agentIDs {
		certs = append(certs, struct{ id, role string }{id, "agent"})
	}
	for _, c := range certs {
		args := []string{"keys", "device", "issue", "--dir", d.path("keys"), "--id", c.id, "--role", c.role}
		if c.role == "server" {
			args = append(args, "--host", "127.0.0.1")
		}
		if _, err := d.cli(ctx, "keys-"+c.id, args...); err != nil {
			return err
		}
	}
	return nil
}

// hostConn are the connection flags of the demo's host commands.
func (d *demo) hostConn() []string {
	return []string{"--broker", d.broker, "--tls-ca", d.path("keys", "host", "ca.crt"),
		"--tls-cert", d.path("keys", "host", "host.crt"), "--tls-key", d.path("keys", "host", "host.key")}
}

// spawn starts an edgenas subcommand as a separate process (its own process
// group, so a Ctrl-C reaches it only through the demo's orderly shutdown).
func (d *demo) spawn(name string, env []string, args ...string) (*exec.Cmd, io.Reader, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	logf, err := os.Create(filepath.Join(d.logs, name+".log"))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(d.e.stderr, "$ edgenas %s &   (log: %s)\n", strings.Join(args, " "), logf.Name())
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("%s: start: %w", name, err)
	}
	d.procs = append(d.procs, cmd)
	return cmd, io.TeeReader(stdout, logf), nil
}

// stopProcesses ends the agent first and then the broker, each with SIGTERM
// and a grace period, so the agent's last will and state files are written.
func (d *demo) stopProcesses() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		if p.Process == nil {
			continue
		}
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	d.procs = nil
}

func (d *demo) startBroker(ctx context.Context) error {
	d.announce("embedded MQTT broker (separate process, loopback)")
	_, stdout, err := d.spawn("broker", nil, "broker", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", d.path("keys", "broker", "broker.crt"), "--tls-key", d.path("keys", "broker", "broker.key"),
		"--client-ca", d.path("keys", "ca", "ca.crt"), "--require-cert")
	if err != nil {
		return err
	}
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// "broker listening on mqtts://127.0.0.1:PORT (...)"
			if f := strings.Fields(sc.Text()); len(f) >= 4 && f[1] == "listening" {
				url <- f[3]
			}
		}
	}()
	select {
	case u := <-url:
		d.broker = u
		d.r.Broker = u
		fmt.Fprintf(d.e.stderr, "broker at %s\n", u)
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("broker did not report its address within 20 s (see %s)", filepath.Join(d.logs, "broker.log"))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// demoClass is the class of the demo's agents.
const demoClass = "local"

// startAgents starts the demo's agent processes, one data directory and
// certificate each.
func (d *demo) startAgents(ctx context.Context) error {
	d.announce("local agents %v of class %s (separate processes)", d.agentIDs, demoClass)
	d.r.Agents, d.r.Class = d.agentIDs, demoClass
	for i, id := range d.agentIDs {
		dataDir := d.path(agentDataDir(i, id))
		_, stdout, err := d.spawn("agent-"+id, nil,
			"agent", "--broker", d.broker, "--id", id, "--class", demoClass, "--backend", d.cfg.backend,
			"--data-dir", dataDir, "--trust", d.path("keys", "host.pub"),
			"--tls-ca", d.path("keys", id, "ca.crt"), "--tls-cert", d.path("keys", id, id+".crt"),
			"--tls-key", d.path("keys", id, id+".key"))
		if err != nil {
			return err
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
	}
	// Wait until the host sees them, so the profile below does not start on an empty fleet.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var rows []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		b, err := d.cli(ctx, "fleet-list", append(append([]string{"fleet", "list"}, d.hostConn()...), "--wait", "500ms", "--json")...)
		if err == nil && json.Unmarshal(b, &rows) == nil {
			online := 0
			for _, r := range rows {
				if slices.Contains(d.agentIDs, r.ID) && r.State != "offline" {
					online++
				}
			}
			if online == len(d.agentIDs) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("agents %v did not all come online within 30 s (see %s)", d.agentIDs, filepath.Join(d.logs, "agent-*.log"))
}

// fleetArgs are the flags that reach the demo's agents through the broker.
func (d *demo) fleetArgs() []string { return d.hostConn() }

func (d *demo) profile(ctx context.Context) error {
	d.announce("latency table of %s measured by both agents through the fleet (MQTT), every key on each", d.cfg.space)
	var sum struct {
		Entries int     `json:"entries_ingested"`
		Seconds float64 `json:"seconds"`
	}
	args := append(append([]string{"fleet", "profile"}, d.hostConn()...),
		"--space", d.cfg.space, "--class", demoClass, "--replicas", fmt.Sprint(len(d.agentIDs)), "--out", d.path("lut.db"), "--timeout", "10m")
	if d.cfg.fastProfile {
		args = append(args, "--fast")
	}
	err := d.cliJSON(ctx, &sum, "fleet-profile", args...)
	d.r.LUT = demoLUT{Path: d.path("lut.db"), Entries: sum.Entries, Seconds: sum.Seconds}
	return err
}

// tableArgs are the flags selecting the class table of the demo's agents.
func (d *demo) tableArgs() []string {
	return []string{"--lut", d.path("lut.db"), "--class", demoClass, "--backend", d.cfg.backend, "--threads", "1"}
}

func (d *demo) search(ctx context.Context) error {
	if d.cfg.target == 0 {
		t, lo, hi, err := demoTarget(d.path("lut.db"), demoClass, d.cfg.backend, d.cfg.space, d.calibration())
		if err != nil {
			return err
		}
		d.cfg.target = t
		d.r.SpaceLoMS, d.r.SpaceHiMS = lo, hi
	}
	if d.cfg.method == "autoshrink" {
		return d.searchAutoShrink(ctx)
	}
	d.announce("Single-Path NAS at a target of %.3f ms", d.cfg.target)
	var res struct {
		Result  demoSearch `json:"result"`
		Seconds float64    `json:"seconds"`
	}
	args := append([]string{"search", "spnas", "--space", d.cfg.space}, d.tableArgs()...)
	args = append(args, "--target-ms", strconv.FormatFloat(d.cfg.target, 'g', 6, 64),
		"--epochs", ftoa(d.cfg.searchEpochs), "--data-frac", ftoa(d.cfg.searchFrac),
		"--seed", strconv.FormatUint(d.cfg.seed, 10), "--out", d.path("search"))
	if c := d.calibration(); c != "" {
		args = append(args, "--calibration", c)
	}
	if err := d.cliJSON(ctx, &res, "search", args...); err != nil {
		return err
	}
	d.r.Search = res.Result
	d.r.SearchSeconds = res.Seconds
	return nil
}

func (d *demo) train(ctx context.Context) error {
	d.announce("train the searched architecture from scratch")
	var res demoTrain
	err := d.cliJSON(ctx, &res, "train", "train", "--space", d.cfg.space, "--arch", "@"+d.path("search", "arch.txt"),
		"--epochs", ftoa(d.cfg.trainEpochs), "--data-frac", ftoa(d.cfg.trainFrac),
		"--seed", strconv.FormatUint(d.cfg.seed, 10), "--eval-images", fmt.Sprint(d.cfg.evalImages), "--out", d.path("train"))
	d.r.Train = res
	return err
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
