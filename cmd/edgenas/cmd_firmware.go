package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"edgenas/agent"
	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/firmware/build"
	"edgenas/firmware/bundle"
	"edgenas/firmware/setup"
	"edgenas/firmware/slots"
	"edgenas/internal/signing"
	"edgenas/runtime/backends"
)

func firmwareCommand() *command {
	return &command{
		name:    "firmware",
		summary: "build, bundle, install and supervise the agent on phones and edge boards",
		subs:    []*command{firmwareBuildCommand(), firmwareBundleCommand(), firmwareVerifyCommand(), firmwareInstallCommand(), firmwareRunCommand()},
	}
}

// buildFlags are shared by build and bundle.
type buildFlags struct {
	target, backend, version, commit, src, sysroot string
}

func (b *buildFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.target, "target", "", "GOOS/GOARCH to build for: linux/arm64 (xnnpack, cgo), android/arm64 (xnnpack: the linux/arm64 build), linux/arm, ... (ref, pure Go)")
	fs.StringVar(&b.backend, "backend", "", "xnnpack or ref (default: xnnpack for linux/arm64 and android/arm64, ref elsewhere)")
	fs.StringVar(&b.version, "agent-version", "", "version string stamped into the binary (default: git describe --always --dirty)")
	fs.StringVar(&b.commit, "commit", "", "source revision stamped into the binary (default: git rev-parse HEAD)")
	fs.StringVar(&b.src, "src", "", "edgenas module directory (default: the module of the working directory)")
	fs.StringVar(&b.sysroot, "sysroot", "", "arm64 sysroot made by `make deps-arm64` (default $EDGENAS_ARM64_SYSROOT or ~/.cache/edgenas/arm64-sysroot)")
}

// gitOut runs git in dir; "" when there is no git or repository.
func gitOut(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (b *buildFlags) options(ctx context.Context, out string) (build.Options, error) {
	if b.target == "" {
		return build.Options{}, usagef("--target is required (e.g. linux/arm64)")
	}
	src := b.src
	if src == "" {
		gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
			return build.Options{}, usagef("not inside the edgenas module; pass --src DIR")
		}
		src = filepath.Dir(strings.TrimSpace(string(gomod)))
	}
	o := build.Options{Target: b.target, Backend: b.backend, Version: b.version, Commit: b.commit, OutDir: out, ModuleDir: src, Sysroot: b.sysroot}
	if o.Version == "" {
		if o.Version = gitOut(ctx, src, "describe", "--always", "--dirty"); o.Version == "" {
			o.Version = version
		}
	}
	if o.Commit == "" {
		o.Commit = gitOut(ctx, src, "rev-parse", "HEAD")
	}
	return o, nil
}

func firmwareBuildCommand() *command {
	var bf buildFlags
	var out string
	var asJSON bool
	return &command{
		name:    "build",
		summary: "cross-compile the agent for a device target, reproducibly (writes DIR/edgenas and DIR/build.json)",
		usage:   "--target GOOS/GOARCH [--backend xnnpack|ref] -o DIR [--json]",
		example: "edgenas firmware build --target linux/arm64 --backend xnnpack -o out/arm64\nedgenas firmware build --target android/arm64 -o out/android",
		flags: func(fs *flag.FlagSet) {
			bf.register(fs)
			fs.StringVar(&out, "o", "", "output directory")
			fs.BoolVar(&asJSON, "json", false, "print the build record as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 || out == "" {
				return usagef("firmware build takes no arguments and needs -o DIR")
			}
			o, err := bf.options(ctx, out)
			if err != nil {
				return err
			}
			if !asJSON {
				o.Log = e.stderr
			}
			start := time.Now()
			info, err := build.Build(ctx, o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, info)
			}
			fmt.Fprintf(e.stdout, "%s: %s %s (%s), %.1f MB, sha256 %s, %.0fs\n", filepath.Join(out, build.BinaryName), info.Target, info.Backend,
				info.Version, float64(info.Size)/1e6, info.SHA256, time.Since(start).Seconds())
			return nil
		},
	}
}

func firmwareBundleCommand() *command {
	var bf buildFlags
	var kf keysFlags
	var out, from string
	var bundleVersion uint64
	var minProto int
	var asJSON bool
	return &command{
		name:    "bundle",
		summary: "build the agent and pack it, with its shared libraries and loader, into one bundle signed with the host key",
		usage:   "--target GOOS/GOARCH -o agent-T.bundle [--backend B] [--version N] [--from BUILD_DIR] [--keys DIR] [--json]",
		example: "edgenas keys init\nedgenas firmware bundle --target linux/arm64 -o agent-linux-arm64.bundle",
		flags: func(fs *flag.FlagSet) {
			bf.register(fs)
			kf.register(fs)
			fs.StringVar(&out, "o", "", "bundle file to write")
			fs.StringVar(&from, "from", "", "use this `firmware build` output directory instead of building")
			fs.Uint64Var(&bundleVersion, "version", 0, "bundle version, increasing with every release (default: the commit time, git log -1 --format=%ct)")
			fs.IntVar(&minProto, "min-host-protocol", proto.Version, "oldest fleet protocol version the agent can talk to")
			fs.BoolVar(&asJSON, "json", false, "print the manifest as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 || out == "" {
				return usagef("firmware bundle takes no arguments and needs -o FILE")
			}
			dir, err := kf.path()
			if err != nil {
				return err
			}
			key, err := signing.LoadPrivate(filepath.Join(dir, signing.PrivateFile))
			if err != nil {
				return fmt.Errorf("host key (create one with `edgenas keys init`): %w", err)
			}
			if from == "" {
				work, err := os.MkdirTemp("", "edgenas-bundle-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(work)
				o, err := bf.options(ctx, filepath.Join(work, "build"))
				if err != nil {
					return err
				}
				o.Log = e.stderr
				if _, err := build.Build(ctx, o); err != nil {
					return err
				}
				from = o.OutDir
			}
			if bundleVersion == 0 {
				ct := gitOut(ctx, bf.src, "log", "-1", "--format=%ct")
				if bundleVersion, err = strconv.ParseUint(ct, 10, 64); err != nil || bundleVersion == 0 {
					return usagef("no --version and no git commit time to default to")
				}
			}
			m, err := bundle.PackBuild(bundle.PackOptions{BuildDir: from, Target: bf.target, Backend: bf.backend, Out: out, Key: key, Version: bundleVersion,
				MinHostProtocol: minProto, Created: time.Now().UTC().Truncate(time.Second), Sysroot: bf.sysroot})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, m)
			}
			st, _ := os.Stat(out)
			fmt.Fprintf(e.stdout, "%s: agent %s for %s (%s), bundle version %d, %d files, %.1f MB, signed by %s\n", out, m.AgentVersion, m.Target,
				m.Backend, m.Version, len(m.Files), float64(st.Size())/1e6, signing.KeyID(key.Public().(ed25519.PublicKey)))
			for _, f := range m.Files {
				fmt.Fprintf(e.stdout, "  %-40s %10d  %s\n", f.Path, f.Size, f.SHA256[:16])
			}
			return nil
		},
	}
}

// trustFlags select the public key a bundle must be signed with.
type trustFlags struct {
	keysFlags
	trust string
}

// register adds --keys (not its synonym --dir, which install uses for the destination) and --trust.
func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.keysFlags.dir, "keys", "", "key directory (default ~/.edgenas) whose host.pub bundles must be signed with")
	fs.StringVar(&t.trust, "trust", "", "host public key file (default: host.pub in --keys)")
}

func (t *trustFlags) load() (ed25519.PublicKey, string, error) {
	p := t.trust
	if p == "" {
		dir, err := t.path()
		if err != nil {
			return nil, "", err
		}
		p = filepath.Join(dir, signing.PublicFile)
	}
	pub, err := signing.LoadPublic(p)
	if err != nil {
		return nil, "", fmt.Errorf("trusted key: %w", err)
	}
	return pub, p, nil
}

func firmwareVerifyCommand() *command {
	var tf trustFlags
	var target string
	var installed uint64
	var asJSON bool
	return &command{
		name:    "verify",
		summary: "check a bundle: signature first, then every file; refuse wrong target, downgrade, traversal, truncation",
		usage:   "BUNDLE [--trust host.pub] [--target T] [--installed N] [--json]",
		example: "edgenas firmware verify agent-linux-arm64.bundle --target linux/arm64",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&target, "target", "", "refuse a bundle for another GOOS/GOARCH")
			fs.Uint64Var(&installed, "installed", 0, "refuse a bundle whose version is not above this one")
			fs.BoolVar(&asJSON, "json", false, "print the manifest as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("firmware verify takes one bundle file")
			}
			pub, _, err := tf.load()
			if err != nil {
				return err
			}
			m, err := bundle.VerifyFile(args[0], signing.Only(pub), bundle.Expect{Target: target, Installed: installed})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, m)
			}
			fmt.Fprintf(e.stdout, "%s: OK, agent %s for %s (%s), version %d, %d files verified\n", args[0], m.AgentVersion, m.Target, m.Backend, m.Version, len(m.Files))
			return nil
		},
	}
}

func firmwareInstallCommand() *command {
	var tf trustFlags
	var bundlePath, adb, ssh, dir, deadline, agentFlags, tlsDir string
	var dryRun, anyTarget, asJSON bool
	return &command{
		name:    "install",
		summary: "first install of a bundle: into a local directory, or on a phone (adb) or a board (ssh)",
		usage:   "--bundle B (--adb SERIAL | --ssh USER@HOST | --dir DATA) [--agent-args 'ARGS'] [--trust host.pub] [--tls-dir DIR] [--dry-run] [--deadline D]",
		example: "edgenas firmware install --bundle agent-android-arm64.bundle --adb 1A2B3C --dry-run --agent-args '--broker tcp://192.168.1.10:1883 --id pixel7-01 --class pixel7'\n" +
			"edgenas firmware install --bundle agent-linux-arm64.bundle --ssh pi@raspberrypi.local --tls-dir ~/.edgenas/pi5-01 --agent-args '--broker mqtts://host:8883 --id pi5-01 --class pi5'",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&bundlePath, "bundle", "", "bundle file (edgenas firmware bundle)")
			fs.StringVar(&adb, "adb", "", "install on the Android device with this adb serial")
			fs.StringVar(&ssh, "ssh", "", "install on this USER@HOST over ssh, with a systemd unit")
			fs.StringVar(&dir, "dir", "", "install into this local data directory")
			fs.StringVar(&agentFlags, "agent-args", "", "arguments of `edgenas agent` on the device, space-separated (broker, id, class, backend)")
			fs.StringVar(&deadline, "deadline", "", "time an updated agent has to connect and report healthy (default 60s)")
			fs.StringVar(&tlsDir, "tls-dir", "", "the device's certificate bundle `dir` ('edgenas keys device issue --id ID' writes it): copied to DATA/tls and given to the agent as --tls-ca/--tls-cert/--tls-key")
			fs.BoolVar(&dryRun, "dry-run", false, "print the exact commands instead of running them")
			fs.BoolVar(&anyTarget, "any-target", false, "with --dir: allow a bundle for another GOOS/GOARCH (staging a device's disk)")
			fs.BoolVar(&asJSON, "json", false, "print the steps (or the installed manifest) as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("firmware install takes no arguments; agent arguments go in --agent-args")
			}
			agentArgs := strings.Fields(agentFlags)
			n := 0
			for _, s := range []string{adb, ssh, dir} {
				if s != "" {
					n++
				}
			}
			if bundlePath == "" || n != 1 {
				return usagef("firmware install needs --bundle and exactly one of --adb, --ssh, --dir")
			}
			if deadline != "" {
				if _, err := time.ParseDuration(deadline); err != nil {
					return usagef("--deadline: %v", err)
				}
			}
			pub, pubPath, err := tf.load()
			if err != nil {
				return err
			}
			o := setup.Options{Bundle: bundlePath, Trust: pub, AgentArgs: agentArgs, Deadline: deadline, TLSDir: tlsDir}
			if dir != "" {
				return installLocal(e, dir, pubPath, o, anyTarget, dryRun, asJSON)
			}
			var steps []setup.Step
			if adb != "" {
				steps, err = setup.PlanADB(adb, pubPath, o)
			} else {
				steps, err = setup.PlanSSH(ssh, pubPath, o)
			}
			if err != nil {
				return err
			}
			if dryRun {
				return printSteps(e, steps, asJSON)
			}
			return setup.Run(ctx, steps, e.stderr, e.stdout, e.stderr)
		},
	}
}

// installLocal is `firmware install --dir`: the install itself, or with
// dryRun its description.
func installLocal(e *env, dir, pubPath string, o setup.Options, anyTarget, dryRun, asJSON bool) error {
	l, err := setup.NewLocal(dir, pubPath, o, anyTarget)
	if err != nil {
		return err
	}
	if dryRun {
		steps, err := l.Plan()
		if err != nil {
			return err
		}
		return printSteps(e, steps, asJSON)
	}
	m, err := l.Install()
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, m)
	}
	fmt.Fprintf(e.stdout, "installed agent %s (%s, version %d) into %s; start it with %s\n", m.AgentVersion, m.Target, m.Version,
		filepath.Join(l.Data, slots.Dir, "slots", slots.SlotA), l.StartScriptPath())
	return nil
}

func printSteps(e *env, steps []setup.Step, asJSON bool) error {
	if asJSON {
		return writeJSON(e.stdout, steps)
	}
	for i, s := range steps {
		fmt.Fprintf(e.stdout, "# %d. %s\n", i+1, s.Desc)
		if len(s.Argv) > 0 {
			fmt.Fprintln(e.stdout, s.Shell())
		}
	}
	return nil
}

func firmwareRunCommand() *command {
	var data, agentFlags string
	var deadline time.Duration
	var verbose bool
	return &command{
		name:    "run",
		summary: "supervise the agent: run the active A/B slot, try staged updates, commit or roll back",
		usage:   "--data DATA [--deadline D] --agent-args 'ARGS'",
		example: "edgenas firmware run --data /data/local/tmp/edgenas --agent-args '--broker tcp://192.168.1.10:1883 --id pixel7-01 --trust host.pub'",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&data, "data", "", "data directory made by `firmware install --dir`")
			fs.StringVar(&agentFlags, "agent-args", "", "arguments of `edgenas agent`, space-separated")
			fs.DurationVar(&deadline, "deadline", 60*time.Second, "time an updated agent has to connect and report healthy")
			fs.BoolVar(&verbose, "v", false, "log every start, commit and rollback")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if data == "" || len(args) != 0 {
				return usagef("firmware run needs --data and takes no arguments (agent arguments go in --agent-args)")
			}
			st, err := slots.Open(data)
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			sv := &slots.Supervisor{Store: st, Args: strings.Fields(agentFlags), Deadline: deadline, Stdout: e.stdout, Stderr: e.stderr,
				Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))}
			return sv.Run(ctx)
		},
	}
}

// firmwareInstallers returns the "agent" installer when the agent runs
// under `edgenas firmware run` (which sets slots.EnvDir), nil otherwise.
func firmwareInstallers(cfg agent.Config) (map[string]install.Installer, error) {
	root := os.Getenv(slots.EnvDir)
	if root == "" {
		return nil, nil
	}
	st, err := slots.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	slot := os.Getenv(slots.EnvSlot)
	if slot != slots.SlotA && slot != slots.SlotB {
		return nil, fmt.Errorf("%s=%q: want a or b", slots.EnvSlot, slot)
	}
	probe := func(ctx context.Context) error {
		if _, err := backends.Lookup(cfg.Backend); err != nil {
			return fmt.Errorf("backend %s: %w", cfg.Backend, err)
		}
		user := cfg.Username
		if user == "" {
			user = cfg.ID
		}
		c, err := proto.Connect(ctx, proto.ConnConfig{Broker: cfg.Broker, ClientID: proto.AgentClientID(cfg.ID) + ":probe", Username: user, Password: cfg.Password, TLS: cfg.TLS})
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		c.Disconnect(100)
		return nil
	}
	in := &slots.Installer{Store: st, Slot: slot, Trust: signing.Only(cfg.Trust), Target: goruntime.GOOS + "/" + goruntime.GOARCH, Probe: probe, Logger: cfg.Logger,
		Client: install.ArtifactClient(cfg.TLS, cfg.ArtifactHTTP)}
	if cfg.Trust == nil {
		return nil, errors.New("agent under the firmware supervisor needs --trust")
	}
	return map[string]install.Installer{proto.ManifestAgent: in}, nil
}
