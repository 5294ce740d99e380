package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"edgenas/dataset/fmnist"
	"edgenas/internal/progress"
	"edgenas/searcher/recipe"
	"edgenas/space"
)

func trainCommand() *command {
	var spaceName, arch, out string
	var asJSON bool
	var evalImages int
	cfg := recipe.Default()
	return &command{
		name:    "train",
		summary: "train one architecture from scratch on Fashion-MNIST with the fixed comparison recipe (resumable)",
		usage:   "--space S --arch A|@arch.txt [--epochs E] [--data-frac F] [--seed S] --out DIR [--json]",
		example: "edgenas train --space spnas-fmnist --arch @runs/spnas-1.2/arch.txt --seed 1 --out runs/train-spnas-1.2-s1",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&arch, "arch", "", "architecture string, @FILE to read it from a file, or 'random' (with --seed)")
			fs.StringVar(&out, "out", "", "output directory (model.ckpt, result.json)")
			fs.Float64Var(&cfg.Epochs, "epochs", cfg.Epochs, "training epochs")
			fs.Float64Var(&cfg.DataFrac, "data-frac", cfg.DataFrac, "fraction of the training split per epoch")
			fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "minibatch size")
			fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (RMSProp, cosine)")
			fs.Uint64Var(&cfg.Seed, "seed", 0, "seed (initialisation and data order)")
			fs.IntVar(&evalImages, "eval-images", 0, "validation and test images for the reported accuracies (0: all; fewer for smoke tests)")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if arch == "" || out == "" {
				return usagef("train needs --arch and --out")
			}
			if name, ok := strings.CutPrefix(arch, "@"); ok {
				b, err := os.ReadFile(name)
				if err != nil {
					return fmt.Errorf("train: %w", err)
				}
				arch = strings.TrimSpace(string(b))
			}
			trainIt, err := trainer(ctx, spaceName, arch, cfg, out)
			if err != nil {
				return err
			}
			data, err := fmnist.LoadDefault()
			if err != nil {
				return err
			}
			if evalImages < 0 {
				return usagef("--eval-images must be >= 0")
			}
			if n := evalImages; n > 0 {
				d := *data
				d.Val, d.Test = d.Val.Slice(0, min(n, d.Val.Len())), d.Test.Slice(0, min(n, d.Test.Len()))
				data = &d
			}
			var bar *progress.Bar
			res, err := trainIt(data, func(step, total int, loss, acc float64) {
				if bar == nil {
					bar = progress.New(e.stderr, "train "+out, total)
				}
				bar.Add(1, fmt.Sprintf("loss %.3f acc %.2f", loss, acc))
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "%s\nvalidation %.4f, test %.4f (%d steps, %.0f s)\n", res.Arch, res.ValAcc, res.TestAcc, res.Steps, res.Seconds)
			return nil
		},
	}
}

// trainer decodes arch in its space (chain or DAG) and returns the fixed
// recipe's training of it into out.
func trainer(ctx context.Context, spaceName, arch string, cfg recipe.Config, out string) (func(*fmnist.Data, func(step, total int, loss, acc float64)) (recipe.Result, error), error) {
	var a recipe.Arch
	if space.IsDAG(spaceName) {
		d, err := lookupDAGArch(spaceName, arch, cfg.Seed)
		if err != nil {
			return nil, err
		}
		a = recipe.DAG(d)
	} else {
		s, err := space.Lookup(spaceName)
		if err != nil {
			return nil, usagef("%v", err)
		}
		c, err := s.ParseOrRandom(arch, cfg.Seed)
		if err != nil {
			return nil, usagef("%v", err)
		}
		a = recipe.Chain(c)
	}
	return func(d *fmnist.Data, on func(step, total int, loss, acc float64)) (recipe.Result, error) {
		return recipe.Train(ctx, cfg, a, d, out, on)
	}, nil
}
