package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"

	"edgenas/internal/atomicfile"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// loadModel reads a .tflite file and loads it on the named backend.
func loadModel(path, backend string, threads int) (runtime.Interpreter, error) {
	b, err := backends.Lookup(backend)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if threads < 1 {
		return nil, usagef("--threads must be at least 1, got %d", threads)
	}
	m, err := tflite.ReadFile(path)
	if err != nil {
		return nil, err
	}
	it, err := b.Load(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("load %s on %s: %w", path, backend, err)
	}
	return it, nil
}

// feedInput fills the model's one input from the file input, or every
// input with random values from seed when input is "".
func feedInput(it runtime.Interpreter, modelPath, input string, seed uint64) error {
	m := it.Model()
	if input == "" {
		return profiler.FillRandomInputs(it, seed)
	}
	if len(m.Inputs) != 1 {
		return fmt.Errorf("%s has %d inputs; --input feeds exactly one", modelPath, len(m.Inputs))
	}
	data, err := os.ReadFile(input)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if want := m.Input(0).Bytes(); len(data) != want {
		return fmt.Errorf("input %s has %d bytes; input tensor %q %v %s needs %d", input, len(data), m.Input(0).Name, m.Input(0).Shape, m.Input(0).Type, want)
	}
	return it.SetInput(0, data)
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
			fs.IntVar(&threads, "threads", 1, "worker threads")
			fs.StringVar(&input, "input", "", "raw input tensor bytes (int8 as stored; exactly the input's size)")
			fs.Uint64Var(&seed, "seed", 0, "without --input: random input from this seed")
			fs.StringVar(&output, "output", "", "write the raw bytes of all outputs, concatenated in order")
			fs.BoolVar(&asJSON, "json", false, "print the outputs as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("run takes one model file, got %d arguments", len(args))
			}
			it, err := loadModel(args[0], backend, threads)
			if err != nil {
				return err
			}
			defer it.Close()
			if err := feedInput(it, args[0], input, seed); err != nil {
				return err
			}
			if err := it.Invoke(); err != nil {
				return fmt.Errorf("invoke: %w", err)
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
