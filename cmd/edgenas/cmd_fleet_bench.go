package main

import (
	"context"
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
	"edgenas/profiler"
)

// fleetTimingFlags are the flags of every command that times whole models
// on a class's agents (fleet bench, lut validate --broker, evaluate --broker).
type fleetTimingFlags struct {
	hf                hostFlags
	replicas, group   int
	listen, advertise string
	lease, timeout    time.Duration
	verbose           bool
}

// register adds the flags; onDevices is false for commands that time on
// this host unless --broker is given (its default is then empty).
func (f *fleetTimingFlags) register(fs *flag.FlagSet, onDevices bool) {
	f.hf.register(fs)
	if !onDevices {
		b := fs.Lookup("broker")
		b.Value.Set("")
		b.DefValue = ""
		b.Usage = "time the whole models on the agents of --class through this broker (tcp://HOST:PORT) instead of on this host"
	}
	fs.IntVar(&f.replicas, "replicas", 0, "distinct agents timing each model (0: every agent of the class online at the start)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address the models are served from (HOST:PORT)")
	fs.StringVar(&f.advertise, "advertise", "", "base URL agents fetch the models from (default: from --listen; required with 0.0.0.0)")
	fs.DurationVar(&f.lease, "lease", 30*time.Second, "how long a silent agent keeps its jobs")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0: never)")
	fs.BoolVar(&f.verbose, "v", false, "log leases, re-sends and rejections")
}

// conn is the host's broker connection.
func (f *fleetTimingFlags) conn() (proto.ConnConfig, error) { return f.hf.conn() }

// config is the bench configuration for class, keeping its files in dir.
func (f *fleetTimingFlags) config(e *env, class, dir string, threads int, p profiler.Protocol) (fleet.BenchConfig, error) {
	conn, err := f.conn()
	if err != nil {
		return fleet.BenchConfig{}, err
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	return fleet.BenchConfig{Conn: conn, Class: class,
		Replicas: f.replicas, Group: f.group, Threads: threads, Protocol: p, Listen: f.listen, Advertise: f.advertise,
		Dir: dir, Lease: f.lease, Timeout: f.timeout, ToolVersion: buildVersion().Version, Progress: e.stderr,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))}, nil
}

func fleetBenchCommand() *command {
	var ft fleetTimingFlags
	var class string
	var threads int
	var fast, asJSON bool
	return &command{
		name:    "bench",
		summary: "time whole .tflite models on the agents of a class (each agent fetches and verifies them) and print per device and per class",
		usage:   "--class C [--broker URL] [--replicas R] [--group G] [--threads T] [--listen ADDR] [--advertise URL] [--json] MODEL.tflite...",
		example: "EDGENAS_HOST_PASSWORD=h edgenas fleet bench --class pixel7 --replicas 2 pick.tflite baseline.tflite",
		flags: func(fs *flag.FlagSet) {
			ft.register(fs, true)
			fs.StringVar(&class, "class", "", "device class whose agents time the models")
			fs.IntVar(&ft.group, "group", 5, "models per job, timed together (interleaved)")
			fs.IntVar(&threads, "threads", 1, "threads per model")
			fs.BoolVar(&fast, "fast", false, "a quick, less precise protocol (smoke tests)")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if class == "" || len(args) == 0 {
				return usagef("fleet bench needs --class and at least one model file")
			}
			if ft.replicas < 0 || ft.group < 1 || threads < 1 {
				return usagef("--replicas must be >= 0, --group and --threads >= 1")
			}
			dir, err := os.MkdirTemp("", "edgenas-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			set, err := fleet.NewModelSet(dir)
			if err != nil {
				return err
			}
			for _, a := range args {
				if _, err := set.AddFile(filepath.Base(a), a); err != nil {
					return err
				}
			}
			p := profiler.DefaultProtocol()
			if fast {
				p = fastProtocol()
			}
			cfg, err := ft.config(e, class, dir, threads, p)
			if err != nil {
				return err
			}
			rep, err := fleet.Bench(ctx, cfg, set)
			if rep != nil {
				if asJSON {
					if werr := writeJSON(e.stdout, rep); werr != nil {
						return werr
					}
				} else {
					printFleetBench(e.stdout, rep)
				}
			}
			return err
		},
	}
}

// fastProtocol is the quick, less precise protocol of --fast.
func fastProtocol() profiler.Protocol {
	return profiler.Protocol{WarmupRuns: 2, MinRuns: 6, MaxSecs: 0.2, RelTol: 0.05, Level: 0.95, MinSampleMicros: 100}
}

// printFleetBench prints a bench per device and per class.
func printFleetBench(w io.Writer, rep *fleet.BenchReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tDEVICE\tMS\tCI %\tCONDITIONS")
	for _, m := range rep.Models {
		for _, d := range m.Devices {
			c := d.Conditions
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f\t%s %d thread(s), %s %.0f MHz, load %.2f%s\n", m.Name, d.Device, d.Millis, 100*d.CIRel,
				c.Backend, c.Threads, c.CPUModel, c.FreqMHz, c.Load1, unstableMark(d.Unstable))
		}
		fmt.Fprintf(tw, "%s\tclass %s\t%.3f\t\tmedian of %d device(s)\n", m.Name, rep.Class, m.ClassMs, len(m.Devices))
	}
	tw.Flush()
	s := rep.Summary
	fmt.Fprintf(w, "run %s: %d models on %s; %d/%d jobs done, %d failed, %d leases re-issued, %d results rejected, %.1fs\n",
		rep.Run, len(rep.Models), rep.Source(), s.Counts.Done, s.Counts.Jobs, s.Counts.Failed, s.Reissued, s.Rejected, s.Seconds)
	for _, f := range s.Failures {
		fmt.Fprintln(w, "failed: "+f)
	}
}

func unstableMark(u bool) string {
	if u {
		return " (unstable)"
	}
	return ""
}
