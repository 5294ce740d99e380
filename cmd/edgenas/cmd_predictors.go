package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"edgenas/internal/chart"
	"edgenas/searcher/foxnas"
)

func predictorsCommand() *command {
	return &command{
		name:    "predictors",
		summary: "FOX-NAS explainable predictors: fit by least squares, show saved fits",
		subs:    []*command{predictorsFitCommand(), predictorsShowCommand()},
	}
}

// fitTargets are the feature sets --target names.
func fitTargets(target string) ([]foxnas.FeatureSet, error) {
	switch target {
	case "latency":
		return []foxnas.FeatureSet{foxnas.FoxLatencySet()}, nil
	case "accuracy":
		return []foxnas.FeatureSet{foxnas.FoxAccuracySet()}, nil
	case "both":
		return []foxnas.FeatureSet{foxnas.FoxLatencySet(), foxnas.FoxAccuracySet()}, nil
	}
	return nil, usagef("--target %q: want latency, accuracy or both", target)
}

// fitPlotPath is where a fit's plot goes: --plot itself, or with several
// fits --plot with the target's label before the extension.
func fitPlotPath(plotPath string, fs foxnas.FeatureSet, several bool) string {
	if !several {
		return plotPath
	}
	ext := filepath.Ext(plotPath)
	return strings.TrimSuffix(plotPath, ext) + "-" + targetLabel(fs) + ext
}

func predictorsFitCommand() *command {
	var csvPath, target, out, plotPath string
	var folds int
	var seed uint64
	var asJSON, drop bool
	return &command{
		name:    "fit",
		summary: "fit the FOX-NAS latency and accuracy predictors on a CSV of sampled sub-networks",
		usage:   "--csv FILE [--target latency|accuracy|both] [--folds K] [--seed N] [-o model.json] [--plot FILE.png] [--drop-collinear] [--json]",
		example: "edgenas predictors fit --csv ../shared/data/foxnas_model_data_CPU_256.csv --target both -o foxnas.json --plot fit.png",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&csvPath, "csv", "", "CSV in the published FOX-NAS layout (columns latency, acc, tot_*, avg_e_*, avg_k_*, tot_e_*, tot_k_*_*) (required)")
			fs.StringVar(&target, "target", "both", "which predictor: latency, accuracy or both")
			fs.IntVar(&folds, "folds", 5, "cross-validation folds (0 skips cross-validation)")
			fs.Uint64Var(&seed, "seed", 1, "seed of the cross-validation fold assignment")
			fs.StringVar(&out, "o", "", "save the fitted predictors as JSON")
			fs.StringVar(&plotPath, "plot", "", "predicted-vs-measured scatter plot (.png or .svg); with --target both, -latency and -accuracy are added before the extension")
			fs.BoolVar(&drop, "drop-collinear", false, "drop terms that are linear combinations of others instead of failing")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("predictors fit takes no positional arguments, got %q", args)
			}
			if csvPath == "" {
				return usagef("predictors fit needs --csv FILE")
			}
			sets, err := fitTargets(target)
			if err != nil {
				return err
			}
			if folds < 0 || folds == 1 {
				return usagef("--folds %d: want 0 (none) or at least 2", folds)
			}
			if plotPath != "" {
				if ext := strings.ToLower(filepath.Ext(plotPath)); ext != ".png" && ext != ".svg" {
					return usagef("--plot %s: extension must be .png or .svg", plotPath)
				}
			}
			tab, err := foxnas.LoadCSV(csvPath)
			if err != nil {
				return err
			}
			var models []*foxnas.Model
			for _, fs := range sets {
				res, err := foxnas.FitModel(fs, tab, foxnas.FitOptions{OLSOptions: foxnas.OLSOptions{DropCollinear: drop}, Folds: folds, Seed: seed})
				if err != nil {
					return err
				}
				models = append(models, res.Model)
				if plotPath != "" {
					p := fitPlotPath(plotPath, fs, len(sets) > 1)
					if err := plotFit(p, res); err != nil {
						return err
					}
					if !asJSON {
						fmt.Fprintf(e.stderr, "wrote %s\n", p)
					}
				}
			}
			if out != "" {
				if err := foxnas.SaveModels(out, models); err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintf(e.stderr, "saved %d predictor(s) to %s\n", len(models), out)
				}
			}
			if asJSON {
				return writeJSON(e.stdout, models)
			}
			return printModels(e.stdout, models)
		},
	}
}

func predictorsShowCommand() *command {
	var asJSON bool
	return &command{
		name: "show", summary: "print predictors saved by 'predictors fit -o'",
		usage: "MODEL.json [--json]", example: "edgenas predictors show foxnas.json",
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("predictors show takes one saved predictors file, got %d arguments", len(args))
			}
			models, err := foxnas.LoadModels(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, models)
			}
			return printModels(e.stdout, models)
		},
	}
}

func printModels(w io.Writer, models []*foxnas.Model) error {
	for i, m := range models {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := printModel(w, m); err != nil {
			return err
		}
	}
	return nil
}

func printModel(w io.Writer, m *foxnas.Model) error {
	fs := m.FeatureSet
	u := fs.Unit
	fmt.Fprintf(w, "%s: %s (%s) from %d terms + intercept, %d rows", fs.Name, targetLabel(fs), u, len(fs.Terms), m.N)
	if m.Source != "" {
		fmt.Fprintf(w, " of %s", m.Source)
	}
	fmt.Fprintf(w, "\nin-sample: R² %.4f, adjusted R² %.4f, RMSE %.3f %s, residual SE %.3f %s (%d coefficients)\n",
		m.R2, m.AdjR2, m.RMSE, u, m.ResidualSE, u, m.Params)
	if m.CV != nil {
		fmt.Fprintf(w, "%d-fold CV (seed %d): R² %.4f, RMSE %.3f %s\n", m.CV.Folds, m.CV.Seed, m.CV.R2, m.CV.RMSE, u)
	}
	for _, d := range m.Dropped {
		fmt.Fprintf(w, "dropped: %s\n", d)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TERM\tESTIMATE\tSTD ERR\tT\tP\t\tMEANING")
	for _, c := range m.Coefficients {
		if c.Dropped {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t\t%s\n", c.Name, c.Meaning)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%.3g\t%.2f\t%.3g\t%s\t%s\n", c.Name, c.Estimate, c.StdErr, c.T, c.P, stars(c.P), c.Meaning)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(* p<0.05, ** p<0.01, *** p<0.001; with interactions, a main effect is the change when the interacting feature is 0)")
	return nil
}

func stars(p float64) string {
	switch {
	case p < 0.001:
		return "***"
	case p < 0.01:
		return "**"
	case p < 0.05:
		return "*"
	}
	return ""
}

func plotFit(path string, res *foxnas.FitResult) error {
	m := res.Model
	what := targetLabel(m.FeatureSet)
	u := m.FeatureSet.Unit
	if u == "pp" {
		u = "%"
	}
	title := fmt.Sprintf("%s: R² %.3f", m.FeatureSet.Name, m.R2)
	series := []chart.Series{{Name: "in-sample fit", X: res.Actual, Y: res.Fitted}}
	if res.CVPredicted != nil {
		title += fmt.Sprintf(", %d-fold CV R² %.3f, RMSE %.3g %s", m.CV.Folds, m.CV.R2, m.CV.RMSE, m.FeatureSet.Unit)
		series = append(series, chart.Series{Name: "out-of-fold prediction", X: res.Actual, Y: res.CVPredicted})
	}
	return chart.Figure{
		Title: title, XLabel: fmt.Sprintf("measured %s (%s)", what, u), YLabel: fmt.Sprintf("predicted %s (%s)", what, u),
		Series: series, Identity: true,
	}.Save(path)
}

// targetLabel names a predictor's response in words ("acc" is the CSV's column name).
func targetLabel(fs foxnas.FeatureSet) string {
	if fs.Target == "acc" {
		return "accuracy"
	}
	return fs.Target
}
