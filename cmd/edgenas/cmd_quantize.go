package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	goruntime "runtime"

	"edgenas/dataset/fmnist"
	"edgenas/internal/progress"
	"edgenas/searcher/evaluate"
	"edgenas/tflite"
)

// quantizeReport is `quantize --json`'s output (the demo reads it).
type quantizeReport struct {
	Checkpoint string  `json:"checkpoint"`
	Arch       string  `json:"arch"`
	Model      string  `json:"model"`
	Calib      int     `json:"calib"`
	Method     string  `json:"calib_method"`
	TestImages int     `json:"test_images"`
	FloatAcc   float64 `json:"float_accuracy"`
	// Int8Acc and GapPP are per backend; GapPP = 100*(int8 - float).
	Int8Acc map[string]float64 `json:"int8_accuracy"`
	GapPP   map[string]float64 `json:"gap_pp"`
	// RefTestImages, when set, is the smaller test subset the ref backend ran
	// (it is ~30x slower); its gap is against float on the same subset.
	RefTestImages int     `json:"ref_test_images,omitempty"`
	RefFloatAcc   float64 `json:"ref_float_accuracy,omitempty"`
}

// quantizeBackends are the backends the int8 model is checked on: the
// optimized one the devices run and the reference kernels TFLite's spec defines.
var quantizeBackends = []string{"xnnpack", "ref"}

func quantizeCommand() *command {
	var ckpt, out, method string
	var calib, testImages, refImages, workers int
	var percentile float64
	var asJSON bool
	return &command{
		name:    "quantize",
		summary: "int8 post-training quantization of a trained network (BN folded, per-channel weights) with float and int8 test accuracy",
		usage:   "--checkpoint DIR --calib N [--calib-method minmax|percentile] [--percentile P] [--test-images N] -o model.tflite [--json]",
		example: "edgenas quantize --checkpoint runs/train-spnas-1.2-s1 --calib 256 -o model.tflite",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ckpt, "checkpoint", "", "an 'edgenas train' output directory (model.ckpt, result.json)")
			fs.StringVar(&out, "o", "", "output int8 .tflite file")
			fs.IntVar(&calib, "calib", 256, "calibration images (spread over the training split)")
			fs.StringVar(&method, "calib-method", "minmax", "activation range: minmax (TFLite's calibrator) or percentile")
			fs.Float64Var(&percentile, "percentile", 99.99, "P for --calib-method percentile, in (50, 100]")
			fs.IntVar(&testImages, "test-images", 0, "test images for the accuracies (0: all 10,000)")
			fs.IntVar(&refImages, "ref-test-images", 0, "test images for the ref backend's int8 accuracy (0: as --test-images); ref runs ~30x slower")
			fs.IntVar(&workers, "workers", goruntime.GOMAXPROCS(0), "interpreters (one thread each) sharing the int8 accuracy runs")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if ckpt == "" || out == "" {
				return usagef("quantize needs --checkpoint DIR and -o model.tflite")
			}
			if calib <= 0 || testImages < 0 || refImages < 0 || workers <= 0 {
				return usagef("quantize needs --calib > 0, --test-images >= 0 and --workers > 0")
			}
			m, err := evaluate.ParseMethod(method)
			if err != nil {
				return usagef("%v", err)
			}
			if method == "percentile" && !(percentile > 50 && percentile <= 100) {
				return usagef("--percentile %v must be in (50, 100]", percentile)
			}
			ptq := evaluate.PTQ{Calib: calib}
			ptq.Opts.Method, ptq.Opts.Percentile = m, percentile
			tr, err := evaluate.LoadTrained(ckpt)
			if err != nil {
				return err
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			test := data.Test
			if testImages > 0 && testImages < test.Len() {
				test = test.Slice(0, testImages)
			}
			fmt.Fprintf(e.stderr, "quantize: %s, calibrating on %d training images (%s)\n", tr.Result.Arch, calib, ptq)
			model, err := tr.Quantize(data.Train, ptq)
			if err != nil {
				return err
			}
			if err := tflite.WriteFile(out, model); err != nil {
				return fmt.Errorf("quantize: write %s: %w", out, err)
			}
			rep := quantizeReport{Checkpoint: ckpt, Arch: tr.Result.Arch, Model: out, Calib: calib, Method: ptq.String(),
				TestImages: test.Len(), Int8Acc: map[string]float64{}, GapPP: map[string]float64{}}
			if rep.FloatAcc, _, err = tr.Net.Evaluate(test.Images, test.Labels, 500); err != nil {
				return fmt.Errorf("quantize: float accuracy: %w", err)
			}
			if err := int8Accuracies(ctx, e, tr, model, test, refImages, workers, &rep); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, rep)
			}
			rep.print(e.stdout)
			return nil
		},
	}
}

// int8Accuracies measures the int8 model on every backend of
// quantizeBackends (ref on its first refImages images when set, against
// float on the same subset) into rep.
func int8Accuracies(ctx context.Context, e *env, tr *evaluate.Trained, model *tflite.Model, test *fmnist.Set, refImages, workers int, rep *quantizeReport) error {
	for _, be := range quantizeBackends {
		set, floatAcc := test, rep.FloatAcc
		if be == "ref" && refImages > 0 && refImages < test.Len() {
			set = test.Slice(0, refImages)
			var err error
			if floatAcc, _, err = tr.Net.Evaluate(set.Images, set.Labels, 500); err != nil {
				return fmt.Errorf("quantize: float accuracy: %w", err)
			}
			rep.RefTestImages, rep.RefFloatAcc = refImages, floatAcc
		}
		bar := progress.New(e.stderr, "int8 accuracy on "+be, set.Len())
		last := 0
		acc, err := evaluate.Int8Accuracy(ctx, model, be, set, workers, func(done int) { bar.Add(done-last, ""); last = done })
		if err != nil {
			return err
		}
		rep.Int8Acc[be], rep.GapPP[be] = acc, 100*(acc-floatAcc)
	}
	return nil
}

func (rep *quantizeReport) print(w io.Writer) {
	fmt.Fprintf(w, "%s -> %s (%s)\nfloat test accuracy %.2f%% on %d images\n", rep.Arch, rep.Model, rep.Method, 100*rep.FloatAcc, rep.TestImages)
	for _, be := range quantizeBackends {
		fmt.Fprintf(w, "int8 on %-8s %.2f%% (%+.2f pp vs float)", be, 100*rep.Int8Acc[be], rep.GapPP[be])
		if be == "ref" && rep.RefTestImages > 0 {
			fmt.Fprintf(w, " on the first %d images (float %.2f%% there)", rep.RefTestImages, 100*rep.RefFloatAcc)
		}
		fmt.Fprintln(w)
	}
}
