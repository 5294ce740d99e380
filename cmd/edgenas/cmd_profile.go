package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"edgenas/agent"
	"edgenas/internal/progress"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/space"
)

// profileFlags are the measurement settings shared by profile and lut validate.
type profileFlags struct {
	backend  string
	threads  int
	device   string
	relTol   float64
	minSecs  float64
	maxSecs  float64
	sampleUs float64
	seed     uint64
	cpus     string
}

func (p *profileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.backend, "backend", "xnnpack", "backend: xnnpack, ref or benchmark-model (TFLite's tool, with --delegate)")
	fs.IntVar(&p.threads, "threads", 1, threadsUsage())
	fs.StringVar(&p.device, "device", "", "device id for the table (default: this host's name)")
	fs.StringVar(&p.cpus, "cpus", "", "pin the measurement to these CPUs, e.g. 0-3,6 (recorded in each entry's conditions)")
	p.registerProtocol(fs)
}

// registerProtocol registers only the stopping-rule flags.
func (p *profileFlags) registerProtocol(fs *flag.FlagSet) {
	fs.Float64Var(&p.relTol, "rel-tol", 0.01, "stop when the 95% interval of the median is within this fraction")
	fs.Float64Var(&p.minSecs, "min-secs", 0.1, "minimum measured seconds per candidate")
	fs.Float64Var(&p.maxSecs, "max-secs", 5, "per-candidate time limit; reaching it marks the entry unstable")
	fs.Uint64Var(&p.seed, "order-seed", 1, "seed of the interleaving order")
	fs.Float64Var(&p.sampleUs, "sample-us", 200, "batch invocations so one timed sample lasts at least this many microseconds")
}

func (p *profileFlags) protocol() (profiler.Protocol, error) {
	pr := profiler.DefaultProtocol()
	if p.relTol <= 0 || p.relTol >= 1 {
		return pr, usagef("--rel-tol must be in (0,1), got %g", p.relTol)
	}
	if p.maxSecs <= 0 || p.minSecs < 0 || p.minSecs > p.maxSecs {
		return pr, usagef("--min-secs %g and --max-secs %g: need 0 <= min <= max, max > 0", p.minSecs, p.maxSecs)
	}
	if err := checkThreads(p.threads); err != nil {
		return pr, err
	}
	if p.sampleUs < 0 {
		return pr, usagef("--sample-us must not be negative, got %g", p.sampleUs)
	}
	pr.RelTol, pr.MinSecs, pr.MaxSecs, pr.Seed, pr.MinSampleMicros = p.relTol, p.minSecs, p.maxSecs, p.seed, p.sampleUs
	return pr, nil
}

func (p *profileFlags) deviceID() string {
	if p.device != "" {
		return p.device
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "local"
	}
	return h
}

// keysToMeasure are the layers of all the table lacks for this device,
// backend and thread count (all of them with force).
func keysToMeasure(st *lut.Store, dev, backend string, threads int, all []space.Layer, force bool) ([]space.Layer, error) {
	if force {
		return all, nil
	}
	var todo []space.Layer
	for _, l := range all {
		has, err := st.Has(dev, backend, threads, l.Key())
		if err != nil {
			return nil, err
		}
		if !has {
			todo = append(todo, l)
		}
	}
	return todo, nil
}

// storeSink saves each group of measurements as it completes, so an
// interrupted profile resumes where it stopped.
func storeSink(st *lut.Store, dev, version string) func([]profiler.LayerResult) error {
	return func(rs []profiler.LayerResult) error {
		entries := make([]lut.Entry, len(rs))
		for i, r := range rs {
			entries[i] = lut.FromMeasurement(dev, r.Key, r.Measurement, time.Now(), version)
		}
		return st.Put(entries...)
	}
}

func profileCommand() *command {
	var pf profileFlags
	var spaceName, out, class string
	var force, asJSON bool
	var bm benchModelFlags
	return &command{
		name:    "profile",
		summary: "measure every latency-table key of a space on this machine into a LUT (resumable)",
		usage:   "--space S --backend xnnpack|ref|benchmark-model [--delegate D] [--threads N] [--cpus LIST] [--device NAME] --out lut.db [--force] [--json]",
		example: "edgenas profile --space spnas-imagenet --backend xnnpack --threads 1 --out lut.db\nedgenas profile --space spnas-fmnist --backend benchmark-model --benchmark-model ./benchmark_model --delegate nnapi --nnapi-accelerator google-edgetpu --out lut.db",
		flags: func(fs *flag.FlagSet) {
			pf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&out, "out", "lut.db", "latency table store (SQLite)")
			fs.StringVar(&class, "class", "local", "device class recorded for this device")
			fs.BoolVar(&force, "force", false, "re-measure keys already in the table")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
			bm.register(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("profile takes no positional arguments, got %q", args)
			}
			all, err := space.KeysOf(spaceName)
			if err != nil {
				return usagef("%v", err)
			}
			proto, err := pf.protocol()
			if err != nil {
				return err
			}
			measure, backend, err := layerMeasurer(pf.backend, pf.threads, &bm)
			if err != nil {
				return err
			}
			cpus, err := pinnedCPUs(e.stderr, pf.cpus, pf.threads)
			if err != nil {
				return err
			}
			st, err := lut.Open(out)
			if err != nil {
				return err
			}
			defer st.Close()
			dev := pf.deviceID()
			if err := registerDevice(ctx, st, dev, class, backend, cpus); err != nil {
				return err
			}
			todo, err := keysToMeasure(st, dev, backend, pf.threads, all, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "profile %s on %s/%s/%d threads: %d keys, %d to measure, %d already in %s\n",
				spaceName, dev, backend, pf.threads, len(all), len(todo), len(all)-len(todo), out)
			start := time.Now()
			bar := progress.New(e.stderr, "profile", len(todo))
			err = measure(ctx, profiler.LayerJob{
				Layers: todo, Threads: pf.threads, Protocol: proto, CPUs: cpus,
				Sink:     storeSink(st, dev, buildVersion().Version),
				Progress: func(done, total int, last string) { bar.Add(done-bar.Done(), last) },
			})
			if err != nil {
				return fmt.Errorf("profile %s (completed groups are saved; rerun to resume): %w", spaceName, err)
			}
			tab, err := st.View(dev, backend, pf.threads)
			if err != nil {
				return err
			}
			sum := summarizeTable(tab, all)
			sum["measured_now"], sum["wall_seconds"], sum["out"] = len(todo), time.Since(start).Seconds(), out
			if asJSON {
				return writeJSON(e.stdout, sum)
			}
			fmt.Fprintf(e.stdout, "%s: %d/%d keys for %s, median CV %.2f%%, median CI half-width %.2f%%, %d unstable, %d measured in %.0f s\n",
				out, sum["present"], len(all), spaceName, 100*sum["median_cv"].(float64), 100*sum["median_ci_rel"].(float64),
				sum["unstable"], len(todo), sum["wall_seconds"])
			return nil
		},
	}
}

// registerDevice records this machine in the store as device dev of class,
// with its description (backend, pinned CPUs).
func registerDevice(ctx context.Context, st *lut.Store, dev, class, backend string, cpus []int) error {
	info := agent.Describe(ctx, dev, class, backend, buildVersion().Version)
	info.PinnedCPUs = cpus
	desc, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return st.PutDevice(lut.Device{ID: dev, Class: class, Description: desc})
}

// summarizeTable reports how complete and how precise a table is for a space's keys.
func summarizeTable(tab *lut.Table, keys []space.Layer) map[string]any {
	var cvs, cis []float64
	present, unstable := 0, 0
	for _, l := range keys {
		en, ok := tab.Lookup(l.Key())
		if !ok {
			continue
		}
		present++
		cvs = append(cvs, en.Stats.CV)
		cis = append(cis, en.CIRel)
		if en.Unstable {
			unstable++
		}
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		sort.Float64s(v)
		return profiler.Quantile(v, 0.5)
	}
	return map[string]any{"present": present, "keys": len(keys), "median_cv": med(cvs), "median_ci_rel": med(cis), "unstable": unstable}
}
