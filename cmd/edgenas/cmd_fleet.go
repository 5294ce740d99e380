package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet"
	"edgenas/fleet/broker"
	"edgenas/internal/filelock"
	"edgenas/lut"
	"edgenas/profiler"
)

func fleetCommand() *command {
	return &command{
		name:    "fleet",
		summary: "drive the device fleet over MQTT: list agents, profile a space on every device of a class",
		subs:    []*command{fleetListCommand(), fleetProfileCommand(), fleetBenchCommand(), fleetLoadtestCommand()},
	}
}

func fleetListCommand() *command {
	var hf hostFlags
	var class string
	var wait time.Duration
	var asJSON bool
	return &command{
		name: "list", summary: "show agents: class, status, last seen, current job",
		usage:   "[--broker URL] [--class C] [--wait D] [--json]",
		example: "EDGENAS_HOST_PASSWORD=h edgenas fleet list --broker tcp://127.0.0.1:1883",
		flags: func(fs *flag.FlagSet) {
			hf.register(fs)
			fs.StringVar(&class, "class", "", "only this device class")
			fs.DurationVar(&wait, "wait", time.Second, "how long to collect retained announcements")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("fleet list takes no arguments")
			}
			cc, err := hf.conn()
			if err != nil {
				return err
			}
			rows, err := fleet.List(ctx, cc, class, wait, nil)
			if err != nil {
				return err
			}
			if asJSON {
				if rows == nil {
					rows = []fleet.AgentRow{}
				}
				return writeJSON(e.stdout, rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tCLASS\tSTATUS\tLAST SEEN\tJOB\tUNACKED\tBACKEND\tCPU")
			for _, r := range rows {
				seen := "-"
				if !r.LastSeen.IsZero() {
					seen = time.Since(r.LastSeen).Round(time.Second).String() + " ago"
				}
				job := "-"
				if r.Job != "" {
					job = fmt.Sprintf("%s (%d/%d keys, %d queued)", r.Job, r.Done, r.Total, r.Queued)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Class, r.State, seen, job, r.Unacked, r.Backend, r.CPU)
			}
			tw.Flush()
			fmt.Fprintf(e.stdout, "%d agents\n", len(rows))
			return nil
		},
	}
}

func fleetProfileCommand() *command {
	var hf hostFlags
	var spaceName, class, out string
	var tags map[string]string
	var chunk, replicas, threads int
	var lease, timeout time.Duration
	var fast, asJSON, verbose, restart bool
	return &command{
		name:    "profile",
		summary: "measure every latency-table key of a space on the online agents of a class into one LUT",
		usage:   "--space S --class C [--tag KEY=VALUE]... --out lut.db [--broker URL] [--chunk N] [--replicas R] [--threads T] [--lease D] [--restart] [--json]",
		example: "EDGENAS_HOST_PASSWORD=h edgenas fleet profile --space spnas-fmnist --class pixel7 --out pixel7.db\n" +
			"EDGENAS_HOST_PASSWORD=h edgenas fleet profile --class phones --tag soc=tensor-g1 --out tensor-g1.db   # only agents started with --tag soc=tensor-g1",
		flags: func(fs *flag.FlagSet) {
			hf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&class, "class", "", "device class to profile")
			fs.Func("tag", "only agents of the class whose info carries this tag KEY=VALUE (agent --tag); repeatable, all must match",
				func(s string) error { return proto.AddTag(&tags, s) })
			fs.StringVar(&out, "out", "", "LUT store (SQLite); its job table goes to OUT.jobs, so re-running resumes")
			fs.IntVar(&chunk, "chunk", 4, "keys per job")
			fs.IntVar(&replicas, "replicas", 1, "distinct agents measuring each key (the class value is their median)")
			fs.IntVar(&threads, "threads", 1, "threads per measurement")
			fs.DurationVar(&lease, "lease", 10*time.Second, "how long a silent agent keeps its jobs")
			fs.DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
			fs.BoolVar(&fast, "fast", false, "a quick, less precise protocol (smoke tests)")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
			fs.BoolVar(&verbose, "v", false, "log leases, re-sends and rejections")
			fs.BoolVar(&restart, "restart", false, "move OUT.jobs aside (kept as OUT.jobs.discarded-TIME) and start a new run; the entries in OUT stay")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("fleet profile takes no arguments")
			}
			if class == "" || out == "" {
				return usagef("fleet profile needs --class and --out")
			}
			p := profiler.DefaultProtocol()
			if fast {
				p = fastProtocol()
			}
			spec, err := fleet.NewSpec(spaceName, class, chunk, replicas, threads, p)
			if err != nil {
				return usagef("%v", err)
			}
			spec.Tags = tags
			lock, journal, err := lockProfileOut(e, out, restart)
			if err != nil {
				return err
			}
			defer lock.Release()
			cc, err := hf.conn()
			if err != nil {
				return err
			}
			st, err := lut.Open(out)
			if err != nil {
				return err
			}
			defer st.Close()
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			h, err := fleet.NewHost(fleet.Config{Broker: cc.Broker, Username: cc.Username, Password: cc.Password, TLS: cc.TLS, Spec: spec,
				Store: st, Journal: journal, Lease: lease, Timeout: timeout, ToolVersion: version,
				Progress: e.stderr, Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))})
			if errors.Is(err, fleet.ErrCorruptJournal) {
				return fmt.Errorf("%w\n(it was left as it is; to discard it and start a new run, keeping the entries already in %s, run again with --restart)", err, out)
			}
			if err != nil {
				return err
			}
			sum, runErr := h.Run(ctx)
			return printProfileRun(e.stdout, sum, runErr, st, class, threads, out, asJSON)
		},
	}
}

// printProfileRun prints a fleet profile's summary (and the class table it
// left, when the run succeeded) and returns the run's error.
func printProfileRun(w io.Writer, sum fleet.Summary, runErr error, st *lut.Store, class string, threads int, out string, asJSON bool) error {
	if asJSON {
		if err := writeJSON(w, sum); err != nil {
			return err
		}
		return runErr
	}
	fmt.Fprintf(w, "run %s (class %s): %d/%d jobs done, %d failed, %d entries from %d agents in %.1fs (resumed %v)\n",
		sum.Run, sum.Class, sum.Counts.Done, sum.Counts.Jobs, sum.Counts.Failed, sum.Entries, len(sum.Agents), sum.Seconds, sum.Resumed)
	fmt.Fprintf(w, "%d duplicate results acked, %d leases re-issued, %d messages rejected\n", sum.Dupes, sum.Reissued, sum.Rejected)
	if runErr != nil {
		return runErr
	}
	if view, short, err := st.ClassView(class, firstBackend(st, class), threads, 1); err == nil {
		fmt.Fprintf(w, "class LUT %s: %d keys (median across agents), %d short of agents; in %s\n", class, view.Len(), len(short), out)
	}
	return nil
}

// lockProfileOut takes the one-writer lock of the store out (held until the
// run ends, released by the kernel if this process dies) and returns it with
// the job table's path; with restart, the job table is first moved aside.
func lockProfileOut(e *env, out string, restart bool) (*filelock.Lock, string, error) {
	lock, err := filelock.Acquire(fleet.LockPath(out))
	if err != nil {
		return nil, "", fmt.Errorf("fleet profile --out %s: another fleet profile is writing it: %w; wait for it or stop it", out, err)
	}
	journal := fleet.JournalPath(out)
	if restart {
		aside, err := fleet.DiscardJournal(journal)
		if err != nil {
			lock.Release()
			return nil, "", err
		}
		if aside != "" {
			fmt.Fprintf(e.stderr, "fleet profile: job table moved to %s; starting a new run\n", aside)
		}
	}
	return lock, journal, nil
}

// firstBackend is the backend of the class's entries (agents of a class
// normally share one).
func firstBackend(st *lut.Store, class string) string {
	devs, err := st.Devices(class)
	if err != nil || len(devs) == 0 {
		return ""
	}
	es, err := st.Entries(lut.Filter{Device: devs[0].ID})
	if err != nil || len(es) == 0 {
		return ""
	}
	return es[0].Backend
}

func fleetLoadtestCommand() *command {
	var hf hostFlags
	var agents, jobs int
	var agentPassFile, dir string
	var asJSON bool
	return &command{
		name:    "loadtest",
		summary: "load-test the fleet path: N in-process agents (real MQTT connections), trivial measurements",
		usage:   "--agents N [--jobs M] [--broker URL | (embedded broker)] [--json]",
		example: "edgenas fleet loadtest --agents 100 --jobs 2000",
		flags: func(fs *flag.FlagSet) {
			hf.register(fs)
			fs.Lookup("broker").DefValue = ""
			fs.Set("broker", "")
			fs.Lookup("broker").Usage = "broker URL (default: an embedded broker on a free loopback port)"
			fs.IntVar(&agents, "agents", 100, "in-process agents")
			fs.IntVar(&jobs, "jobs", 0, "one-key jobs (default 10 per agent)")
			fs.StringVar(&agentPassFile, "agent-password-file", "", "file holding the agent password for an external broker (default $EDGENAS_AGENT_PASSWORD)")
			fs.StringVar(&dir, "dir", "", "work directory (default: a temporary one, removed after)")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("fleet loadtest takes no arguments")
			}
			if agents < 1 {
				return usagef("--agents must be at least 1")
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "edgenas-loadtest-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			cc, err := hf.conn()
			if err != nil {
				return err
			}
			if cc.TLS != nil {
				return usagef("fleet loadtest runs over plain TCP only")
			}
			agentPass, err := (&secretFlags{env: "EDGENAS_AGENT_PASSWORD", file: agentPassFile}).value()
			if err != nil {
				return usagef("%v", err)
			}
			cfg := fleet.LoadConfig{Broker: hf.broker, HostUser: hf.user, HostPassword: cc.Password, AgentPassword: agentPass,
				Agents: agents, Jobs: jobs, Dir: filepath.Clean(dir), Progress: e.stderr}
			if hf.broker == "" {
				// No broker given: run the embedded one on a free port.
				b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", AgentPassword: "load", MaxSharedIDs: agents,
					Users: []broker.User{{Name: "host", Password: "load", Role: broker.RoleHost}}})
				if err != nil {
					return err
				}
				defer b.Close()
				cfg.Broker, cfg.HostUser, cfg.HostPassword, cfg.AgentPassword = b.URL(), "host", "load", "load"
			}
			res, err := fleet.LoadTest(ctx, cfg)
			if asJSON {
				if werr := writeJSON(e.stdout, res); werr != nil {
					return werr
				}
			} else {
				fmt.Fprintf(e.stdout, "%d agents, %d jobs: %.0f results/s, job-to-result p50 %.1f ms, p99 %.1f ms; lost %d, duplicated %d (connect %.1fs, profile %.1fs)\n",
					res.Agents, res.Jobs, res.ResultsPerSec, res.P50Millis, res.P99Millis, res.Lost, res.Duplicated, res.ConnectSecs, res.Seconds)
			}
			return err
		},
	}
}
