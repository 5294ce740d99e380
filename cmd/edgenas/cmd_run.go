package main

import (
	"context"
	"flag"
	"fmt"
	"sort"

	"edgenas/internal/atomicfile"
	"edgenas/internal/safefile"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// maxThreads bounds --threads of run, bench, profile and lut validate: more
// worker threads than any phone or board edgenas targets has cores, and few
// enough that a typo cannot make a backend start thousands of threads.
const maxThreads = 64

// threadsUsage documents --threads with its bound.
func threadsUsage() string { return fmt.Sprintf("worker threads (1..%d)", maxThreads) }

// loadModel reads a .tflite file and loads it on the named backend. The
// context is checked before the (possibly slow) load and after it, so a
// signal during either ends the command.
func loadModel(ctx context.Context, path, backend string, threads int) (runtime.Interpreter, error) {
	b, err := backends.Lookup(backend)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if err := checkThreads(threads); err != nil {
		return nil, err
	}
	m, err := tflite.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := interrupted(ctx); err != nil {
		return nil, err
	}
	it, err := b.Load(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("load %s on %s: %w", path, backend, err)
	}
	if err := interrupted(ctx); err != nil {
		it.Close()
		return nil, err
	}
	return it, nil
}

// feedInput fills the model's one input from the file input, or every
// input with random values from seed when input is "".
func feedInput(it runtime.Interpreter, modelPath, input string, seed uint64) error {
	if input == "" {
		return profiler.FillRandomInputs(it, seed)
	}
	if err := setInputFile(it, input); err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	return nil
}

// runOutput is one output tensor as `run --json` prints it.
type runOutput struct {
	Name   string    `json:"name"`
	Shape  []int32   `json:"shape"`
	Type   string    `json:"type"`
	Values []float64 `json:"values"`
	Real   []float64 `json:"dequantized,omitempty"`
	Top    []int     `json:"top5"`
}

// runOutputs decodes every output of an invoked interpreter, and returns
// their raw bytes concatenated in order.
func runOutputs(it runtime.Interpreter) ([]runOutput, []byte) {
	m := it.Model()
	var all []byte
	var outs []runOutput
	for i := range m.Outputs {
		b := it.Output(i)
		all = append(all, b...)
		t := m.Output(i)
		vals := decodeValues(t, b)
		o := runOutput{Name: t.Name, Shape: t.Shape, Type: t.Type.String(), Values: vals, Top: topK(vals, 5)}
		if t.Quant != nil && len(t.Quant.Scale) == 1 {
			for _, v := range vals {
				o.Real = append(o.Real, float64(t.Quant.Scale[0])*(v-float64(t.Quant.ZeroPoint[0])))
			}
		}
		outs = append(outs, o)
	}
	return outs, all
}

// checkThreads is the usage error for a --threads value outside 1..maxThreads.
func checkThreads(n int) error {
	if n < 1 || n > maxThreads {
		return usagef("--threads %d out of range: want 1..%d", n, maxThreads)
	}
	return nil
}

// interrupted is an error naming the signal once ctx is done, else nil.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("interrupted: %w", context.Cause(ctx))
}

func runCommand() *command {
	var backend, input, output string
	var threads int
	var seed uint64
	var asJSON bool
	return &command{
		name:    "run",
		summary: "run a .tflite model once on raw input bytes and write the raw output",
		usage:   "--backend xnnpack|ref [--threads N] (--input in.bin | --seed N) [--output out.bin] [--json] m.tflite",
		example: "edgenas run --backend xnnpack --input image.bin --output logits.bin model.tflite",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&backend, "backend", "xnnpack", "backend: xnnpack or ref")
			fs.IntVar(&threads, "threads", 1, threadsUsage())
			fs.StringVar(&input, "input", "", "raw input tensor bytes (int8 as stored; exactly the input's size)")
			fs.Uint64Var(&seed, "seed", 0, "without --input: random input from this seed")
			fs.StringVar(&output, "output", "", "write the raw bytes of all outputs, concatenated in order")
			fs.BoolVar(&asJSON, "json", false, "print the outputs as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("run takes one model file, got %d arguments", len(args))
			}
			it, err := loadModel(ctx, args[0], backend, threads)
			if err != nil {
				return err
			}
			defer it.Close()
			if err := feedInput(it, args[0], input, seed); err != nil {
				return err
			}
			if err := interrupted(ctx); err != nil {
				return err
			}
			if err := it.Invoke(); err != nil {
				return fmt.Errorf("invoke: %w", err)
			}
			if err := interrupted(ctx); err != nil {
				return err // no output from a run the user stopped
			}
			outs, all := runOutputs(it)
			if output != "" {
				if err := atomicfile.WriteFile(output, all); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(e.stdout, outs)
			}
			for _, o := range outs {
				fmt.Fprintf(e.stdout, "output %q %v %s: top-5 indices %v", o.Name, o.Shape, o.Type, o.Top)
				if len(o.Values) <= 16 {
					fmt.Fprintf(e.stdout, " values %v", o.Values)
				}
				fmt.Fprintln(e.stdout)
			}
			return nil
		},
	}
}

// setInputFile feeds the model's only input from a raw file of exactly its size.
func setInputFile(it runtime.Interpreter, path string) error {
	m := it.Model()
	if len(m.Inputs) != 1 {
		return fmt.Errorf("%d inputs; --input feeds exactly one", len(m.Inputs))
	}
	t := m.Input(0)
	want := t.Bytes()
	data, err := safefile.ReadFile(path, int64(want))
	if err != nil {
		return fmt.Errorf("read input for tensor %q (%d bytes): %w", t.Name, want, err)
	}
	if len(data) != want {
		return fmt.Errorf("input %s has %d bytes; input tensor %q %v %s needs %d", path, len(data), t.Name, t.Shape, t.Type, want)
	}
	return it.SetInput(0, data)
}

// decodeValues reads a tensor's raw bytes as numbers.
func decodeValues(t *tflite.Tensor, b []byte) []float64 {
	var out []float64
	switch t.Type {
	case tflite.Int8:
		for _, v := range b {
			out = append(out, float64(int8(v)))
		}
	case tflite.Uint8:
		for _, v := range b {
			out = append(out, float64(v))
		}
	case tflite.Float32:
		for j := 0; j+4 <= len(b); j += 4 {
			out = append(out, float64(quantize.Float32s(b[j : j+4])[0]))
		}
	case tflite.Int32:
		for j := 0; j+4 <= len(b); j += 4 {
			out = append(out, float64(int32(uint32(b[j])|uint32(b[j+1])<<8|uint32(b[j+2])<<16|uint32(b[j+3])<<24)))
		}
	}
	return out
}

// topK returns the indices of the k largest values, largest first (ties: lower index first).
func topK(v []float64, k int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	if len(idx) > k {
		idx = idx[:k]
	}
	return idx
}
