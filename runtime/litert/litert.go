// Package litert runs .tflite models on Google's own runtime, LiteRT (the
// renamed TensorFlow Lite), so tests can check that the models edgenas
// writes are read and computed by it exactly as by edgenas's backends.
//
// LiteRT comes from npm's @litertjs/core (LiteRT compiled to WebAssembly,
// its CPU path being TFLite's XNNPACK delegate) and runs under node through
// shim.cjs, embedded here. `make litert` installs the package into
// runtime/litert/node_modules from the committed package-lock.json. It is a
// test-support package: nothing in edgenas's binaries depends on it.
package litert

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"edgenas/internal/refdata"
)

//go:embed shim.cjs
var shim string

// DefaultTimeout bounds one node process when the context has no deadline.
const DefaultTimeout = 2 * time.Minute

// maxResponse bounds what is read back from node: more than any model's
// outputs edgenas runs, and a stop to a runaway process.
const maxResponse = 512 << 20

// ErrNoNode means node is not installed; ErrNotInstalled that the npm
// package is missing (`make litert` installs both).
var (
	ErrNoNode       = errors.New("litert: node is not installed")
	ErrNotInstalled = errors.New("litert: @litertjs/core is not installed (run `make litert`)")
)

// Runtime is a located node binary and LiteRT WebAssembly directory.
type Runtime struct {
	// Node is the node executable.
	Node string
	// WasmDir holds @litertjs/core's wasm/ files.
	WasmDir string
}

// Job is one model and the input sets to run it on; each input set holds
// the raw bytes of every graph input, in order.
type Job struct {
	Model  []byte
	Inputs [][][]byte
}

// Result is one Job's outputs: per input set, the raw bytes of every graph
// output. Err is the job's own failure (the model was refused, an input
// had the wrong size); other jobs of the batch still ran.
type Result struct {
	Outputs [][][]byte
	// FullyAccelerated reports whether LiteRT's CPU accelerator (XNNPACK)
	// took the whole graph.
	FullyAccelerated bool
	Err              error
}

// Find locates node (on PATH) and the installed package: EDGENAS_LITERT_DIR
// (a directory holding node_modules/@litertjs/core), else runtime/litert in
// the module that contains the working directory. The error wraps ErrNoNode
// or ErrNotInstalled.
func Find() (*Runtime, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNode, err)
	}
	dir := os.Getenv("EDGENAS_LITERT_DIR")
	if dir == "" {
		root, err := refdata.ModuleRoot()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
		}
		dir = filepath.Join(root, "runtime", "litert")
	}
	wasm := filepath.Join(dir, "node_modules", "@litertjs", "core", "wasm")
	if _, err := os.Stat(filepath.Join(wasm, "litert_wasm_compat_internal.wasm")); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	return &Runtime{Node: node, WasmDir: wasm}, nil
}

// Run runs one model on one input set with a located runtime.
func Run(ctx context.Context, model []byte, inputs [][]byte) ([][]byte, error) {
	r, err := Find()
	if err != nil {
		return nil, err
	}
	return r.Run(ctx, model, inputs)
}

// Run runs one model on one input set and returns its outputs.
func (r *Runtime) Run(ctx context.Context, model []byte, inputs [][]byte) ([][]byte, error) {
	res, err := r.RunBatch(ctx, []Job{{Model: model, Inputs: [][][]byte{inputs}}})
	if err != nil {
		return nil, err
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	return res[0].Outputs[0], nil
}

type request struct {
	Jobs []requestJob `json:"jobs"`
}

type requestJob struct {
	Model  []byte     `json:"model"`
	Inputs [][][]byte `json:"inputs"`
}

type response struct {
	Results []struct {
		Outputs          [][]string `json:"outputs"`
		FullyAccelerated bool       `json:"fully_accelerated"`
		Error            string     `json:"error"`
	} `json:"results"`
}

// RunBatch runs every job in one node process (loading LiteRT once), within
// ctx's deadline or DefaultTimeout. A failure of the process itself is the
// error; a job LiteRT refuses is that Result's Err.
func (r *Runtime) RunBatch(ctx context.Context, jobs []Job) ([]Result, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req := request{Jobs: make([]requestJob, len(jobs))}
	for i, j := range jobs {
		req.Jobs[i] = requestJob{Model: j.Model, Inputs: j.Inputs}
	}
	body, err := json.Marshal(req) // []byte fields marshal as base64
	if err != nil {
		return nil, fmt.Errorf("litert: encode request: %w", err)
	}
	cmd := exec.CommandContext(ctx, r.Node, "-e", shim)
	cmd.Env = append(os.Environ(), "LITERT_WASM_DIR="+r.WasmDir)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("litert: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("litert: start node: %w", err)
	}
	out, readErr := io.ReadAll(io.LimitReader(stdout, maxResponse+1))
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("litert: node: %w (stderr: %s)", ctx.Err(), strings.TrimSpace(stderr.String()))
	case waitErr != nil:
		return nil, fmt.Errorf("litert: node: %w (stderr: %s)", waitErr, strings.TrimSpace(stderr.String()))
	case readErr != nil:
		return nil, fmt.Errorf("litert: read node output: %w", readErr)
	case len(out) > maxResponse:
		return nil, fmt.Errorf("litert: node wrote more than %d bytes", maxResponse)
	}
	return decodeResponse(out, jobs)
}

// decodeResponse checks the response against the jobs and decodes it.
func decodeResponse(out []byte, jobs []Job) ([]Result, error) {
	var resp response
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("litert: decode node output: %w", err)
	}
	if len(resp.Results) != len(jobs) {
		return nil, fmt.Errorf("litert: %d results for %d jobs", len(resp.Results), len(jobs))
	}
	results := make([]Result, len(jobs))
	for i, rr := range resp.Results {
		if rr.Error != "" {
			results[i].Err = fmt.Errorf("litert: job %d: %s", i, rr.Error)
			continue
		}
		if len(rr.Outputs) != len(jobs[i].Inputs) {
			return nil, fmt.Errorf("litert: job %d: %d output sets for %d input sets", i, len(rr.Outputs), len(jobs[i].Inputs))
		}
		results[i].FullyAccelerated = rr.FullyAccelerated
		for k, set := range rr.Outputs {
			var dec [][]byte
			for o, s := range set {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("litert: job %d input set %d output %d: %w", i, k, o, err)
				}
				dec = append(dec, b)
			}
			results[i].Outputs = append(results[i].Outputs, dec)
		}
	}
	return results, nil
}

// limitedBuffer keeps the first max bytes written (node's stderr in errors).
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
