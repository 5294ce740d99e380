package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"edgenas/internal/atomicfile"
	"edgenas/internal/progress"
	"edgenas/internal/safefile"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/runtime/backends"
	"edgenas/space"
)

func lutCommand() *command {
	return &command{
		name:    "lut",
		summary: "latency lookup tables: show, export, import, predict, validate",
		subs:    []*command{lutShowCommand(), lutExportCommand(), lutImportCommand(), lutPredictCommand(), lutValidateCommand()},
	}
}

// maxTableFileBytes bounds the table files lut import and lut predict
// --spnas read: 256 MiB, far beyond any published table (tens of KB).
const maxTableFileBytes = 256 << 20

// tableFlags select one table in a store: one device's (--device) or a
// class's (--class: the per-key median over its devices), for a backend and
// thread count.
type tableFlags struct {
	store, device, class, backend string
	threads, minDevices           int
	disagree                      float64
}

func (f *tableFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.store, "lut", "lut.db", "latency table store (SQLite)")
	fs.StringVar(&f.device, "device", "", "device id (default: the only device in the store)")
	fs.StringVar(&f.class, "class", "", "device class: the table is the per-key median over the class's devices (instead of --device)")
	fs.IntVar(&f.minDevices, "min-devices", 1, "with --class: keys measured by fewer devices are left out and listed")
	fs.Float64Var(&f.disagree, "disagree", lut.DefaultDisagreement, "with --class: flag a device entry this far (relative) from its class median")
	fs.StringVar(&f.backend, "backend", "xnnpack", "backend the table was measured with")
	fs.IntVar(&f.threads, "threads", 1, "thread count the table was measured with")
}

// open opens the store (which must exist) read-only and resolves the device.
func (f *tableFlags) open() (*lut.Store, string, error) {
	if f.class != "" {
		return nil, "", usagef("--class %s: this command reads one device's table; give --device", f.class)
	}
	st, err := lut.OpenReadOnly(f.store)
	if err != nil {
		return nil, "", err
	}
	dev := f.device
	if dev == "" {
		devs, err := st.Devices("")
		if err != nil {
			st.Close()
			return nil, "", err
		}
		if len(devs) != 1 {
			st.Close()
			var ids []string
			for _, d := range devs {
				ids = append(ids, d.ID)
			}
			return nil, "", usagef("%s holds %d devices %v: choose one with --device (or a class with --class)", f.store, len(devs), ids)
		}
		dev = devs[0].ID
	}
	return st, dev, nil
}

// load reads the selected table out of the store: a device's, or with
// --class the class table and its report (nil for a device table).
func (f *tableFlags) load() (*lut.Table, *lut.ClassReport, error) {
	if f.class == "" {
		st, dev, err := f.open()
		if err != nil {
			return nil, nil, err
		}
		defer st.Close()
		t, err := st.View(dev, f.backend, f.threads)
		return t, nil, err
	}
	if f.device != "" {
		return nil, nil, usagef("give --device or --class, not both")
	}
	if f.minDevices < 1 {
		return nil, nil, usagef("--min-devices %d: want at least 1", f.minDevices)
	}
	if !(f.disagree > 0) || f.disagree > 10 {
		return nil, nil, usagef("--disagree %g: want a relative distance in (0, 10]", f.disagree)
	}
	st, err := lut.OpenReadOnly(f.store)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	return st.ClassTable(f.class, f.backend, f.threads, f.minDevices, f.disagree)
}

// table reads the selected table out of the store.
func (f *tableFlags) table() (*lut.Table, error) {
	t, _, err := f.load()
	return t, err
}

// entries lists the selected table's entries by key, with the class report
// when --class is set.
func (f *tableFlags) entries() ([]lut.Entry, *lut.Table, *lut.ClassReport, error) {
	t, rep, err := f.load()
	if err != nil {
		return nil, nil, nil, err
	}
	es := make([]lut.Entry, 0, len(t.Entries))
	for _, e := range t.Entries {
		es = append(es, e)
	}
	sort.Slice(es, func(a, b int) bool { return es[a].Key < es[b].Key })
	return es, t, rep, nil
}

func lutShowCommand() *command {
	var tf tableFlags
	var asJSON, entries bool
	return &command{
		name: "show", summary: "summarise a table's devices and entries (or list every entry)",
		usage:   "--lut X [--device D | --class C [--min-devices N] [--disagree F]] [--backend B] [--threads N] [--entries] [--json]",
		example: "edgenas lut show --lut pixel7.db --class pixel7 --min-devices 2 --entries",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.BoolVar(&entries, "entries", false, "list every entry")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			es, tab, rep, err := tf.entries()
			if err != nil {
				return err
			}
			if asJSON {
				if rep != nil {
					return writeJSON(e.stdout, map[string]any{"entries": es, "class": rep})
				}
				return lut.WriteJSON(e.stdout, es)
			}
			dev := "device " + tab.Device
			if rep != nil {
				dev = "class " + tab.Class
			}
			var cvs []float64
			unstable, imported, partial := 0, 0, 0
			for _, en := range es {
				cvs = append(cvs, en.Stats.CV)
				if en.Unstable {
					unstable++
				}
				if en.Imported() {
					imported++
				}
				if en.Conditions.Delegate.Partial() {
					partial++
				}
			}
			sort.Float64s(cvs)
			med := 0.0
			if len(cvs) > 0 {
				med = cvs[len(cvs)/2]
			}
			fmt.Fprintf(e.stdout, "%s: %s, backend %s, %d thread(s): %d entries (%d imported, %d unstable), median CV %.2f%%\n",
				tf.store, dev, tf.backend, tf.threads, len(es), imported, unstable, 100*med)
			if partial > 0 {
				fmt.Fprintf(e.stdout, "%d entries were only partly delegated: their times include CPU fallback (see DELEGATE with --entries)\n", partial)
			}
			if rep != nil {
				printClassReport(e.stdout, rep, entries)
			}
			if entries {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				if rep != nil {
					// A class entry's statistics are over its devices' medians.
					fmt.Fprintln(tw, "P50 MS\tSPREAD %\tDEVICES\tKEY\tDELEGATE")
				} else {
					fmt.Fprintln(tw, "P50 MS\tCV %\tN\tKEY\tDELEGATE")
				}
				for _, en := range es {
					v := 100 * en.Stats.CV
					if rep != nil && en.Stats.P50 > 0 {
						v = 100 * (en.Stats.Max - en.Stats.Min) / en.Stats.P50
					}
					fmt.Fprintf(tw, "%.4f\t%.2f\t%d\t%s\t%s\n", en.Millis(), v, en.Stats.Count, en.Key, en.Delegation())
				}
				tw.Flush()
			}
			return nil
		},
	}
}

func lutExportCommand() *command {
	var tf tableFlags
	var format, out string
	return &command{
		name: "export", summary: "export a table as JSON or CSV (one row per entry, all statistics)",
		usage: "--lut X [--device D | --class C [--min-devices N]] [--backend B] [--threads N] --format json|csv [-o FILE]", example: "edgenas lut export --lut lut.db --format csv -o lut.csv",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&format, "format", "json", "json or csv")
			fs.StringVar(&out, "o", "", "output file (default: standard output)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if format != "json" && format != "csv" {
				return usagef("--format must be json or csv, got %q", format)
			}
			es, _, _, err := tf.entries()
			if err != nil {
				return err
			}
			write := func(w io.Writer) error {
				if format == "csv" {
					return lut.WriteCSV(w, es)
				}
				return lut.WriteJSON(w, es)
			}
			if out == "" {
				return write(e.stdout)
			}
			if err := atomicfile.Write(out, write); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "wrote %d entries to %s\n", len(es), out)
			return nil
		},
	}
}

func lutImportCommand() *command {
	var store, format, device, backend, source string
	var threads int
	var asJSON bool
	return &command{
		name:    "import",
		summary: "import entries: edgenas JSON/CSV, or Once-for-All / ProxylessNAS YAML mapped onto edgenas keys",
		usage:   "--lut X --format json|csv|ofa|proxylessnas [--device D] [--backend B] [--threads N] FILE",
		example: "edgenas lut import --lut note10.db --format ofa --device note10 --backend tflite ../shared/data/ofa_note10_224_lookup_table.yaml",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&store, "lut", "lut.db", "latency table store (created if missing)")
			fs.StringVar(&format, "format", "", "json, csv, ofa or proxylessnas")
			fs.StringVar(&device, "device", "imported", "device id for foreign tables")
			fs.StringVar(&backend, "backend", "tflite", "backend name for foreign tables")
			fs.IntVar(&threads, "threads", 1, "thread count for foreign tables")
			fs.StringVar(&source, "source", "", "source tag for foreign tables (default import:FORMAT)")
			fs.BoolVar(&asJSON, "json", false, "print the import report as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("lut import takes one file, got %d arguments", len(args))
			}
			f, _, err := safefile.Open(args[0], maxTableFileBytes)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			opt := lut.ImportOptions{Device: device, Backend: backend, Threads: threads, Source: source, ToolVersion: buildVersion().Version}
			var es []lut.Entry
			var rep lut.ImportReport
			switch format {
			case "json":
				es, err = lut.ReadJSON(f)
			case "csv":
				es, err = lut.ReadCSV(f)
			case "ofa":
				es, rep, err = lut.ImportOFA(f, opt)
			case "proxylessnas":
				es, rep, err = lut.ImportProxyless(f, opt)
			default:
				return usagef("--format must be json, csv, ofa or proxylessnas, got %q", format)
			}
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			st, err := lut.Open(store)
			if err != nil {
				return err
			}
			defer st.Close()
			seen := map[string]bool{}
			for _, en := range es {
				if !seen[en.Device] {
					seen[en.Device] = true
					if err := st.PutDevice(lut.Device{ID: en.Device, Class: en.Device}); err != nil {
						return err
					}
				}
			}
			if err := st.Put(es...); err != nil {
				return fmt.Errorf("import %s into %s (nothing stored): %w", args[0], store, err)
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"stored": len(es), "report": rep})
			}
			fmt.Fprintf(e.stdout, "stored %d entries from %s into %s\n", len(es), args[0], store)
			if rep.Format != "" {
				fmt.Fprintln(e.stdout, rep.String())
			}
			return nil
		},
	}
}

func lutPredictCommand() *command {
	var tf tableFlags
	var spaceName, arch, spnasFile, calibFile, predictor string
	var fixedMs float64
	var seed uint64
	var asJSON bool
	return &command{
		name:    "predict",
		summary: "predict an architecture's latency from a table (lut-sum, spnas-formula, calibrated) or a Single-Path NAS JSON table",
		usage:   "(--lut X | --spnas FILE --fixed-ms F) --space S --arch A [--predictor P] [--calibration C.json] [--json]",
		example: "edgenas lut predict --spnas ../shared/data/spnas_pixel1_runtime_model.json --fixed-ms 19.5999 --space spnas-imagenet --arch k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6,k5e6",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&arch, "arch", "", "architecture string, or 'random' (with --seed)")
			fs.Uint64Var(&seed, "seed", 0, "seed for --arch random")
			fs.StringVar(&predictor, "predictor", "all", "lut-sum, spnas-formula, calibrated or all")
			fs.StringVar(&calibFile, "calibration", "", "calibrated predictor JSON (from lut validate)")
			fs.StringVar(&spnasFile, "spnas", "", "use a published Single-Path NAS per-layer JSON instead of a store")
			fs.Float64Var(&fixedMs, "fixed-ms", 0, "with --spnas: the constant part (stem, head, fixed layers) in ms")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if arch == "" {
				return usagef("lut predict needs --arch")
			}
			if space.IsDAG(spaceName) {
				return dagLUTPredict(e, &tf, spaceName, arch, seed, predictor, calibFile, asJSON)
			}
			s, err := space.Lookup(spaceName)
			if err != nil {
				return usagef("%v", err)
			}
			a, err := s.ParseOrRandom(arch, seed)
			if err != nil {
				return usagef("%v", err)
			}
			var preds []lut.Predictor
			if spnasFile != "" {
				preds, err = spnasPredictors(spnasFile, fixedMs)
			} else {
				preds, err = chainPredictors(&tf, s, predictor, calibFile)
			}
			if err != nil {
				return err
			}
			out := map[string]float64{}
			var names []string
			for _, p := range preds {
				pd, err := p.Predict(a)
				if err != nil {
					return err
				}
				if !(pd.Millis > 0) || math.IsInf(pd.Millis, 0) {
					return fmt.Errorf("%s predicts %g ms for %s: not a latency (check the table and the calibration)", p.Name(), pd.Millis, a)
				}
				out[p.Name()] = pd.Millis
				names = append(names, p.Name())
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"arch": a.String(), "space": s.Name, "predicted_ms": out})
			}
			for _, n := range names {
				fmt.Fprintf(e.stdout, "%-40s %.2f ms\n", n, out[n])
			}
			return nil
		},
	}
}

// spnasPredictors are the published Single-Path NAS table's predictors:
// its formula and its exact per-layer sum.
func spnasPredictors(file string, fixedMs float64) ([]lut.Predictor, error) {
	f, _, err := safefile.Open(file, maxTableFileBytes)
	if err != nil {
		return nil, fmt.Errorf("--spnas: %w", err)
	}
	defer f.Close()
	t, err := lut.ReadSPNAS(f, fixedMs)
	if err != nil {
		return nil, err
	}
	return []lut.Predictor{lut.SPNASPredictor{Table: t}, lut.SPNASPredictor{Table: t, Exact: true}}, nil
}

// chainPredictors are the predictors --predictor names over a stored table
// of a chain space ("all": every one the flags allow).
func chainPredictors(tf *tableFlags, s *space.Space, predictor, calibFile string) ([]lut.Predictor, error) {
	tab, err := tf.table()
	if err != nil {
		return nil, err
	}
	sum, cal, err := tablePredictors(tab, predictor, calibFile)
	if err != nil {
		return nil, err
	}
	var preds []lut.Predictor
	if sum != nil {
		preds = append(preds, sum)
	}
	if predictor == "all" || predictor == "spnas-formula" {
		rt, err := lut.NewSpaceRuntime(s, tab)
		if err != nil {
			return nil, err
		}
		preds = append(preds, rt)
	}
	if cal != nil {
		preds = append(preds, cal)
	}
	if len(preds) == 0 {
		return nil, usagef("unknown --predictor %q (lut-sum, spnas-formula, calibrated, all)", predictor)
	}
	return preds, nil
}

// writeValidation saves a validation's rows, plot, calibrated predictor (if
// one was fitted) and report into outDir.
func writeValidation(outDir string, rep *lut.ValidateReport) (csvPath, pngPath string, err error) {
	if csvPath, pngPath, err = rep.WriteFiles(outDir); err != nil {
		return "", "", err
	}
	if rep.Calibrated != nil {
		if err := atomicfile.Write(filepath.Join(outDir, "calibrated.json"), rep.Calibrated.WriteJSON); err != nil {
			return "", "", err
		}
	}
	if err := atomicfile.Write(filepath.Join(outDir, "report.json"), func(w io.Writer) error { return writeJSON(w, rep) }); err != nil {
		return "", "", err
	}
	return csvPath, pngPath, nil
}

func lutValidateCommand() *command {
	var tf tableFlags
	var pf profileFlags
	var ft fleetTimingFlags
	var spaceName, outDir string
	var models, calib int
	var seed uint64
	var asJSON bool
	return &command{
		name:    "validate",
		summary: "measure random architectures end to end and score every predictor (RMSE, RMSPE, within 5/10/15%, Kendall tau)",
		usage:   "--space S --lut X [--device D | --class C [--broker URL [--replicas R]]] --models N [--calib C] [--seed K] [--out DIR] [--json]",
		example: "edgenas lut validate --space spnas-fmnist --lut pixel7.db --class pixel7 --broker tcp://127.0.0.1:1883 --models 40 --calib 12 --out validate/",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			pf.registerProtocol(fs)
			ft.register(fs, false)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.IntVar(&models, "models", 30, "architectures to score")
			fs.IntVar(&calib, "calib", 10, "extra architectures measured to fit the calibrated predictor (0: none)")
			fs.Uint64Var(&seed, "seed", 1, "seed of the sampled architectures")
			fs.StringVar(&outDir, "out", "validate", "directory for rows.csv, scatter.png, calibrated.json, report.json")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			s, ds, err := lookupAnySpace(spaceName)
			if err != nil {
				return err
			}
			pf.threads = tf.threads
			proto, err := pf.protocol()
			if err != nil {
				return err
			}
			timer, err := validateTimer(e, &ft, &tf, proto)
			if err != nil {
				return err
			}
			b, err := backends.Lookup(tf.backend)
			if err != nil && timer == nil {
				return usagef("%v", err)
			}
			tab, crep, err := tf.load()
			if err != nil {
				return err
			}
			if crep != nil {
				fmt.Fprintln(e.stderr, crep.String())
				if timer == nil {
					fmt.Fprintf(e.stderr, "validate: timing the whole models on this host, not on class %s's devices (give --broker URL for those)\n", tf.class)
				}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			bar := progress.New(e.stderr, "validate", models+calib)
			start := time.Now()
			onProgress := func(done, total int, last string) { bar.Add(done-bar.Done(), last) }
			rep, err := validate(ctx, ds, lut.ValidateJob{Space: s, Table: tab, Backend: b, Threads: tf.threads, Protocol: proto,
				Models: models, Calib: calib, Seed: seed, Timer: timer, Progress: onProgress})
			if err != nil {
				return err
			}
			csvPath, pngPath, err := writeValidation(outDir, rep)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, rep)
			}
			fmt.Fprintf(e.stdout, "%s: %d architectures scored (%d more fitted the calibrated predictor) in %.0f s, measured on %s\n",
				spaceName, models, calib, time.Since(start).Seconds(), rep.Measured)
			printValidation(e.stdout, rep, outDir, csvPath, pngPath)
			return nil
		},
	}
}

// lookupAnySpace finds a chain space or, for a DAG space's name, a DAG space.
func lookupAnySpace(name string) (*space.Space, *space.DAGSpace, error) {
	if space.IsDAG(name) {
		ds, err := space.LookupDAG(name)
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		return nil, ds, nil
	}
	s, err := space.Lookup(name)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	return s, nil, nil
}

// validate runs job over the chain space it names, or over ds when set.
func validate(ctx context.Context, ds *space.DAGSpace, job lut.ValidateJob) (*lut.ValidateReport, error) {
	if ds != nil {
		return lut.ValidateDAG(ctx, ds, job)
	}
	return lut.Validate(ctx, job)
}

// validateTimer is where lut validate times its models: nil (this host), or
// with --broker the agents of --class.
func validateTimer(e *env, ft *fleetTimingFlags, tf *tableFlags, proto profiler.Protocol) (lut.ModelTimer, error) {
	if ft.hf.broker == "" {
		return nil, nil
	}
	if tf.class == "" {
		return nil, usagef("--broker times the models on the agents of a class: give --class C")
	}
	ft.group = 5
	return fleetValidateTimer{e: e, ft: ft, class: tf.class, threads: tf.threads, proto: proto}, nil
}

// printValidation prints a validation's scores and where its files are.
func printValidation(w io.Writer, rep *lut.ValidateReport, outDir, csvPath, pngPath string) {
	for _, a := range rep.Accuracy {
		fmt.Fprintln(w, "  "+a.String())
	}
	fmt.Fprintf(w, "rows: %s\nplot: %s\n", csvPath, pngPath)
	if rep.Calibrated != nil {
		fmt.Fprintf(w, "calibrated predictor: %s (coefficients %s = %v)\n", filepath.Join(outDir, "calibrated.json"),
			strings.Join(rep.Calibrated.Features, ", "), rep.Calibrated.Coef)
	}
}

// printClassReport prints how a class table was built: devices, keys too few
// devices measured, the spread between devices and the flagged entries (all
// of them with all, else the first few).
func printClassReport(w io.Writer, rep *lut.ClassReport, all bool) {
	fmt.Fprintln(w, rep.String())
	if len(rep.Short) > 0 {
		fmt.Fprintf(w, "keys measured by fewer than %d devices (left out): %s\n", rep.MinDevices, strings.Join(firstN(rep.Short, all), " "))
	}
	if len(rep.Flagged) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAGGED DEVICE\tKEY\tMS\tCLASS MS\tOFF\tCONDITIONS")
	for i, d := range rep.Flagged {
		if i == 10 && !all {
			fmt.Fprintf(tw, "... %d more (--entries lists all)\n", len(rep.Flagged)-i)
			break
		}
		c := d.Conditions
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%+.1f%%\t%s %.0f MHz %s %.1f C load %.2f throttled=%v busy=%v\n", d.Device, d.Key, d.Millis,
			d.ClassMs, 100*d.Rel, c.CPUModel, c.FreqMHz, c.Governor, c.TempC, c.Load1, c.Throttled, c.Busy)
	}
	tw.Flush()
}

// firstN is the first ten items of xs, or all of them with all (plus a count of the rest).
func firstN(xs []string, all bool) []string {
	if all || len(xs) <= 10 {
		return xs
	}
	return append(append([]string{}, xs[:10]...), fmt.Sprintf("... %d more", len(xs)-10))
}
