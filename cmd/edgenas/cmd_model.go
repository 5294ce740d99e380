package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"

	"edgenas/internal/safefile"
	"edgenas/quantize"
	"edgenas/runtime/backends"
	"edgenas/space"
	"edgenas/tflite"
)

func modelCommand() *command {
	return &command{
		name:    "model",
		summary: "generate, inspect and compare int8 .tflite models",
		subs:    []*command{modelGenCommand(), modelInspectCommand(), modelCompareCommand()},
	}
}

func modelGenCommand() *command {
	var spaceName, arch, out string
	var seed uint64
	var asJSON bool
	return &command{
		name:    "gen",
		summary: "build an int8 .tflite model for an architecture, with seeded random weights",
		usage:   "--space S --arch A|random [--seed N] -o m.tflite [--json]",
		example: "edgenas model gen --space spnas-fmnist --arch random --seed 3 -o m.tflite",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&spaceName, "space", "spnas-fmnist", "search space")
			fs.StringVar(&arch, "arch", "random", "architecture string, or 'random'")
			fs.Uint64Var(&seed, "seed", 0, "seed for the random architecture and the weights")
			fs.StringVar(&out, "o", "", "output .tflite path (required)")
			fs.BoolVar(&asJSON, "json", false, "print what was written as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if out == "" {
				return usagef("model gen needs -o FILE")
			}
			if len(args) != 0 {
				return usagef("model gen takes no positional arguments, got %q", args)
			}
			if space.IsDAG(spaceName) {
				return dagModelGen(e, spaceName, arch, seed, out, asJSON)
			}
			s, err := space.Lookup(spaceName)
			if err != nil {
				return usagef("%v", err)
			}
			a, err := s.ParseOrRandom(arch, seed)
			if err != nil {
				return usagef("%v", err)
			}
			m, err := quantize.ArchModel(a, seed)
			if err != nil {
				return fmt.Errorf("build %s: %w", a, err)
			}
			return writeModel(e, out, m, s.Name, a.String(), seed, a.MACs(), a.Params(), asJSON)
		},
	}
}

// writeModel writes a generated model and reports what was written.
func writeModel(e *env, out string, m *tflite.Model, spaceName, arch string, seed uint64, macs, params int64, asJSON bool) error {
	if err := tflite.WriteFile(out, m); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"path": out, "space": spaceName, "arch": arch, "seed": seed,
			"operators": len(m.Operators), "bytes": st.Size(), "macs": macs, "params": params})
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s %s (%d operators, %.2f MB, %.1f MMACs)\n", out, spaceName, arch, len(m.Operators),
		float64(st.Size())/1e6, float64(macs)/1e6)
	return nil
}

func modelInspectCommand() *command {
	var asJSON, delegates bool
	var api int
	return &command{
		name: "inspect",
		summary: "print a model's operators, tensor shapes, quantization, MACs, parameters and which operators each backend runs, " +
			"and with --delegates which operators XNNPACK, NNAPI, GPU and Hexagon would take",
		usage:   "[--delegates [--android-api N]] [--json] m.tflite",
		example: "edgenas model inspect --delegates ../shared/data/person_detect.tflite",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print JSON (with --delegates: {\"model\": ..., \"backends\": [...], \"delegates\": [...]})")
			fs.BoolVar(&delegates, "delegates", false, "report per delegate which operators it would take and why it refuses the others")
			fs.IntVar(&api, "android-api", 30, "Android API level the NNAPI rules are checked at (27 or later)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("model inspect takes one model file, got %d arguments", len(args))
			}
			if api < 27 {
				return usagef("--android-api %d: NNAPI starts at API 27", api)
			}
			m, err := tflite.ReadFile(args[0])
			if err != nil {
				return err
			}
			sum := tflite.Summarize(m)
			support, err := backends.Support(m)
			if err != nil {
				return err
			}
			var reports []tflite.DelegateReport
			if delegates {
				reports = tflite.CheckDelegates(m, tflite.DelegateOptions{AndroidAPI: api})
			}
			if asJSON && delegates {
				return writeJSON(e.stdout, map[string]any{"model": sum, "backends": support, "delegates": reports})
			}
			if asJSON {
				return writeJSON(e.stdout, inspectReport{Summary: sum, Backends: support})
			}
			if err := sum.WriteText(e.stdout); err != nil {
				return err
			}
			writeSupportText(e.stdout, support)
			if !delegates {
				return nil
			}
			fmt.Fprintln(e.stdout)
			return tflite.WriteDelegatesText(e.stdout, reports)
		},
	}
}

func modelCompareCommand() *command {
	var asJSON bool
	return &command{
		name:    "compare",
		summary: "compare two raw output files of one model (e.g. xnnpack vs ref): top-1 and difference in quanta",
		usage:   "[--json] m.tflite a.bin b.bin",
		example: "edgenas model compare m.tflite out-xnnpack.bin out-ref.bin",
		flags:   func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 3 {
				return usagef("model compare takes a model and two output files, got %d arguments", len(args))
			}
			m, err := tflite.ReadFile(args[0])
			if err != nil {
				return err
			}
			want := 0
			for i := range m.Outputs {
				want += m.Output(i).Bytes()
			}
			a, err := safefile.ReadFile(args[1], int64(want))
			if err != nil {
				return fmt.Errorf("output file for a model with %d output bytes: %w", want, err)
			}
			b, err := safefile.ReadFile(args[2], int64(want))
			if err != nil {
				return fmt.Errorf("output file for a model with %d output bytes: %w", want, err)
			}
			if len(a) != want || len(b) != want {
				return fmt.Errorf("output files have %d and %d bytes; the model's outputs take %d", len(a), len(b), want)
			}
			type cmp struct {
				Output    string  `json:"output"`
				Top1A     int     `json:"top1_a"`
				Top1B     int     `json:"top1_b"`
				MaxDiff   float64 `json:"max_diff"`
				WithinOne float64 `json:"share_within_one_quantum"`
				Elements  int     `json:"elements"`
			}
			var res []cmp
			off := 0
			agree := true
			for i := range m.Outputs {
				t := m.Output(i)
				n := t.Bytes()
				va, vb := decodeValues(t, a[off:off+n]), decodeValues(t, b[off:off+n])
				off += n
				c := cmp{Output: t.Name, Elements: len(va)}
				within := 0
				for j := range va {
					d := math.Abs(va[j] - vb[j])
					c.MaxDiff = math.Max(c.MaxDiff, d)
					if d <= 1 {
						within++
					}
				}
				if len(va) > 0 {
					c.WithinOne = float64(within) / float64(len(va))
					c.Top1A, c.Top1B = topK(va, 1)[0], topK(vb, 1)[0]
				}
				agree = agree && c.Top1A == c.Top1B
				res = append(res, c)
			}
			if asJSON {
				return writeJSON(e.stdout, res)
			}
			for _, c := range res {
				verdict := "top-1 same"
				if c.Top1A != c.Top1B {
					verdict = fmt.Sprintf("top-1 DIFFERS (%d vs %d)", c.Top1A, c.Top1B)
				}
				fmt.Fprintf(e.stdout, "output %q: %s, max difference %.0f quanta, %.1f%% of %d elements within one quantum\n",
					c.Output, verdict, c.MaxDiff, 100*c.WithinOne, c.Elements)
			}
			return nil
		},
	}
}
