package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/searcher/foxnas"
)

func searchFoxNASCommand() *command {
	var tf tableFlags
	var spaceName, out, supernet, calibFile string
	var asJSON bool
	cfg := foxnas.DefaultOneShotConfig()
	// Sub-network evaluation costs a full-supernet forward per image
	// (10,256 images per sample with these defaults), so it dominates the
	// search time; it is cached in the supernet directory and shared
	// between targets. Fewer samples or images leave the 33-parameter
	// accuracy predictor fitting noise: 60 samples on 1,000 images gave
	// in-sample R² 0.72 but 5-fold CV R² below 0, and 150 samples on 2,000
	// images 5-fold CV R² 0.10-0.31, the scoring noise (0.35-0.41 pp) being
	// close to the sub-networks' spread (0.5-0.67 pp). 10,000 images cut
	// that noise by sqrt(5).
	job := foxnas.SearchJob{Samples: 150, SubnetVal: fmnist.ValCount, CalibBatches: 4, LatSamples: 2000, Folds: 5, Tol: 0.05, Seed: 1}
	return &command{
		name:    "foxnas",
		summary: "FOX-NAS: one-shot supernet, OLS predictors on its sampled sub-networks and the LUT, annealing within a latency band",
		usage: "--space S --lut X [--device D --backend B --threads N] [--calibration C.json] --target-ms T [--seed S] [--supernet DIR] [--samples N] " +
			"[--subnet-val N] [--epochs 8] [--data-frac F] --out DIR [--json]",
		example: "edgenas search foxnas --space spnas-fmnist --lut lut.db --target-ms 0.28 --seed 1 --supernet runs/supernet-1 --out runs/foxnas-0.28-1",
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&calibFile, "calibration", "", calibrationHelp)
			fs.StringVar(&out, "out", "", "output directory (candidates.json, arch.txt, predictors.json/.txt, samples.csv, anneal.jsonl, search.png, result.json)")
			fs.StringVar(&supernet, "supernet", "", "supernet directory: reused when it holds a finished supernet of the same recipe and seed (also its evaluated samples), trained into otherwise (default OUT/supernet)")
			fs.Float64Var(&job.TargetMS, "target-ms", 0, "latency target in ms")
			fs.Float64Var(&job.Tol, "tol", job.Tol, "relative latency band around the target (the random baseline's)")
			fs.Uint64Var(&job.Seed, "seed", job.Seed, "seed (supernet initialisation and sampling, sub-network draw, folds, annealer)")
			fs.IntVar(&job.Samples, "samples", job.Samples, "sub-networks evaluated to fit the accuracy predictor")
			fs.IntVar(&job.SubnetVal, "subnet-val", job.SubnetVal, "training images held out (the last N of the 60,000) to score every sub-network on; the supernet trains on the rest, never on these, and the test set is never used")
			fs.IntVar(&job.CalibBatches, "calib-batches", job.CalibBatches, "training batches that recalibrate batch norm for each sub-network")
			fs.IntVar(&job.LatSamples, "lat-samples", job.LatSamples, "random architectures whose LUT sums fit the latency predictor")
			fs.IntVar(&job.Folds, "folds", job.Folds, "cross-validation folds of both predictors (0: none)")
			fs.Float64Var(&cfg.Epochs, "epochs", cfg.Epochs, "supernet training epochs")
			fs.Float64Var(&cfg.DataFrac, "data-frac", cfg.DataFrac, "fraction of the training split per epoch")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "minibatch size (training and calibration)")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak RMSProp learning rate")
			fs.IntVar(&job.Anneal.Steps, "anneal-steps", 5000, "annealing steps per restart")
			fs.IntVar(&job.Anneal.Restarts, "restarts", 3, "annealing restarts")
			fs.IntVar(&job.Anneal.TopK, "top-k", 10, "distinct architectures kept")
			fs.Float64Var(&job.Anneal.T0, "t0", 0.1, "starting temperature in accuracy percentage points")
			fs.BoolVar(&asJSON, "json", false, "print result.json")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("search foxnas takes no positional arguments, got %q", args)
			}
			if err := checkFoxNASJob(out, &job); err != nil {
				return err
			}
			rt, err := spaceRuntime(&tf, spaceName, calibFile)
			if err != nil {
				return err
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			cfg.Seed = job.Seed
			job.OneShot, job.RT, job.Data, job.OutDir, job.Log = cfg, rt, data, out, e.stderr
			job.SupernetDir = cmp.Or(supernet, filepath.Join(out, "supernet"))
			rep, err := foxnas.RunSearch(ctx, job)
			if err != nil {
				return err
			}
			models, err := writePredictors(out, rep)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, rep)
			}
			e.stdout.Write(models)
			printFoxNAS(e.stdout, rep, &job)
			return nil
		},
	}
}

// writePredictors writes the search's two predictors as text into
// out/predictors.txt and returns that text.
func writePredictors(out string, rep *foxnas.SearchReport) ([]byte, error) {
	var buf bytes.Buffer
	if err := printModels(&buf, []*foxnas.Model{rep.Latency, rep.Accuracy}); err != nil {
		return nil, err
	}
	return buf.Bytes(), atomicfile.WriteFile(filepath.Join(out, "predictors.txt"), buf.Bytes())
}

// checkFoxNASJob refuses flag values the search cannot run with.
func checkFoxNASJob(out string, job *foxnas.SearchJob) error {
	switch {
	case out == "":
		return usagef("search foxnas needs --out DIR")
	case !(job.TargetMS > 0):
		return usagef("search foxnas needs --target-ms T > 0")
	case !(job.Tol > 0 && job.Tol < 1):
		return usagef("--tol %v: want a fraction in (0,1)", job.Tol)
	case job.Anneal.Steps <= 0 || job.Anneal.Restarts <= 0 || job.Anneal.TopK <= 0 || !(job.Anneal.T0 > 0):
		return usagef("--anneal-steps, --restarts, --top-k and --t0 must be positive")
	case job.Samples <= 0 || job.CalibBatches <= 0 || job.LatSamples <= 0:
		return usagef("--samples, --calib-batches and --lat-samples must be positive")
	case job.SubnetVal <= 0 || job.SubnetVal >= fmnist.TrainTotal:
		return usagef("--subnet-val %d: want 1 to %d held-out training images", job.SubnetVal, fmnist.TrainTotal-1)
	}
	return nil
}

// printFoxNAS prints the pick and where the search's time went.
func printFoxNAS(w io.Writer, rep *foxnas.SearchReport, job *foxnas.SearchJob) {
	pk := rep.Picks[0]
	fmt.Fprintf(w, "\n%s\n", pk.Arch)
	fmt.Fprintf(w, "table %.3f ms (%+.1f%% of %.3f ms, within %.0f%%: %v), predictor %.3f ms, predicted accuracy %.2f%%\n",
		pk.TableMS, 100*(pk.TableMS/job.TargetMS-1), job.TargetMS, 100*job.Tol, pk.WithinTable, pk.PredictedMS, pk.PredictedAcc)
	trained := "reused"
	if rep.TrainedNow {
		trained = "trained now"
	}
	sp := rep.SubnetSplit
	fmt.Fprintf(w, "supernet trained on training images %d-%d (%d per epoch), sub-networks scored on held-out images %d-%d\n",
		sp.TrainFirst, sp.TrainFirst+sp.TrainCount-1, rep.Supernet.Images, sp.ValFirst, sp.ValFirst+sp.ValCount-1)
	fmt.Fprintf(w, "search %.0f s (supernet %s: %.0f s for %d steps; %d sub-networks %.0f s; fit %.1f s; anneal %.1f s)\n",
		rep.SearchSeconds, trained, rep.Supernet.TrainSeconds, rep.Supernet.Steps, rep.Samples, rep.SampleEvalSeconds, rep.FitSeconds, rep.AnnealSeconds)
}
