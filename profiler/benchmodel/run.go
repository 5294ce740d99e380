package benchmodel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"edgenas/profiler"
)

// EnvBinary names the benchmark_model binary when Options.Binary is empty.
const EnvBinary = "EDGENAS_BENCHMARK_MODEL"

// Options say how to run benchmark_model: which binary, which delegate with
// which settings, how many threads and on which CPUs.
type Options struct {
	// Binary is the benchmark_model path ("" means $EDGENAS_BENCHMARK_MODEL).
	Binary string
	// Delegate is cpu, xnnpack, nnapi, gpu, hexagon or external:LIB ("" means xnnpack,
	// what the tool applies by default).
	Delegate string
	// NNAPIAccelerator names the NNAPI device (--nnapi_accelerator_name,
	// e.g. google-edgetpu, qti-dsp); NNAPIAllowFP16 lets it compute float
	// parts in fp16; NNAPIPreference is fast_single_answer, sustained_speed
	// or low_power.
	NNAPIAccelerator string
	NNAPIAllowFP16   bool
	NNAPIPreference  string
	// GPUPrecision is "" (the tool's default), "fp16" (precision loss
	// allowed) or "fp32"; GPUBackend forces "cl" or "gl".
	GPUPrecision string
	GPUBackend   string
	// HexagonLibPath is where the Hexagon skel libraries are.
	HexagonLibPath string
	// ExternalOptions go to an external delegate as "k1:v1;k2:v2".
	ExternalOptions string
	// Threads is --num_threads (0: the job's or 1).
	Threads int
	// CPUs pins the tool with taskset when not empty.
	CPUs []int
	// Taskset is the taskset binary ("" means taskset on PATH).
	Taskset string
	// RequireFull fails the run when the delegate leaves any node to the CPU
	// (--require_full_delegation).
	RequireFull bool
}

// Runs are the tool's run-count flags.
type Runs struct {
	WarmupRuns    int
	WarmupMinSecs float64
	Runs          int
	MinSecs       float64
	MaxSecs       float64
	// OpProfiling turns on --enable_op_profiling; CSVFile, if set, is
	// --profiling_output_csv_file.
	OpProfiling bool
	CSVFile     string
}

// WithDefaults fills the binary from the environment and the default delegate.
func (o Options) WithDefaults() Options {
	if o.Binary == "" {
		o.Binary = os.Getenv(EnvBinary)
	}
	if o.Delegate == "" {
		o.Delegate = DelegateXNNPACK
	}
	if o.Taskset == "" {
		o.Taskset = "taskset"
	}
	return o
}

// Validate checks the options (after WithDefaults).
func (o Options) Validate() error {
	if o.Binary == "" {
		return fmt.Errorf("no benchmark_model binary: give --benchmark-model PATH or set $%s", EnvBinary)
	}
	if err := CheckDelegate(o.Delegate); err != nil {
		return err
	}
	switch o.GPUPrecision {
	case "", "fp16", "fp32":
	default:
		return fmt.Errorf("GPU precision %q: want fp16 or fp32", o.GPUPrecision)
	}
	switch o.GPUBackend {
	case "", "cl", "gl":
	default:
		return fmt.Errorf("GPU backend %q: want cl or gl", o.GPUBackend)
	}
	switch o.NNAPIPreference {
	case "", "fast_single_answer", "sustained_speed", "low_power":
	default:
		return fmt.Errorf("NNAPI execution preference %q: want fast_single_answer, sustained_speed or low_power", o.NNAPIPreference)
	}
	if o.Threads < 0 {
		return fmt.Errorf("threads %d must not be negative", o.Threads)
	}
	for _, c := range o.CPUs {
		if c < 0 || c > 4095 {
			return fmt.Errorf("CPU %d out of range", c)
		}
	}
	return nil
}

// CheckBinary reports a benchmark_model binary that is missing or not
// executable, so a daemon fails at start rather than on its first job.
func (o Options) CheckBinary() error {
	if _, err := exec.LookPath(o.Binary); err != nil {
		return fmt.Errorf("benchmark_model binary: %w", err)
	}
	return nil
}

// DelegateFlags are the tool flags that select and configure the delegate,
// as name -> value (also what entries record as the delegate's options).
func (o Options) DelegateFlags() map[string]string {
	f := map[string]string{}
	switch d := o.Delegate; {
	case d == DelegateCPU:
		f["use_xnnpack"] = "false"
	case d == DelegateXNNPACK:
		f["use_xnnpack"] = "true"
	case d == DelegateNNAPI:
		f["use_nnapi"] = "true"
		setIf(f, "nnapi_accelerator_name", o.NNAPIAccelerator)
		setIf(f, "nnapi_execution_preference", o.NNAPIPreference)
		if o.NNAPIAllowFP16 {
			f["nnapi_allow_fp16"] = "true"
		}
	case d == DelegateGPU:
		f["use_gpu"] = "true"
		switch o.GPUPrecision {
		case "fp16":
			f["gpu_precision_loss_allowed"] = "true"
		case "fp32":
			f["gpu_precision_loss_allowed"] = "false"
		}
		setIf(f, "gpu_backend", o.GPUBackend)
	case d == DelegateHexagon:
		f["use_hexagon"] = "true"
		setIf(f, "hexagon_lib_path", o.HexagonLibPath)
	case strings.HasPrefix(d, externalPrefix):
		f["external_delegate_path"] = strings.TrimPrefix(d, externalPrefix)
		setIf(f, "external_delegate_options", o.ExternalOptions)
	}
	if o.RequireFull {
		f["require_full_delegation"] = "true"
	}
	return f
}

func setIf(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// delegateFlagOrder keeps the command line stable (maps have no order).
var delegateFlagOrder = []string{"use_xnnpack", "use_nnapi", "nnapi_accelerator_name", "nnapi_execution_preference",
	"nnapi_allow_fp16", "use_gpu", "gpu_precision_loss_allowed", "gpu_backend", "use_hexagon", "hexagon_lib_path",
	"external_delegate_path", "external_delegate_options", "require_full_delegation"}

// Args is the benchmark_model command line (without the binary) for graph.
func (o Options) Args(graph string, threads int, r Runs) []string {
	args := []string{"--graph=" + graph, "--num_threads=" + strconv.Itoa(max(threads, 1))}
	num := func(name string, v float64) {
		if v > 0 {
			args = append(args, "--"+name+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	num("warmup_runs", float64(r.WarmupRuns))
	num("warmup_min_secs", r.WarmupMinSecs)
	num("num_runs", float64(r.Runs))
	num("min_secs", r.MinSecs)
	num("max_secs", r.MaxSecs)
	f := o.DelegateFlags()
	for _, k := range delegateFlagOrder {
		if v, ok := f[k]; ok {
			args = append(args, "--"+k+"="+v)
		}
	}
	if r.OpProfiling || r.CSVFile != "" {
		args = append(args, "--enable_op_profiling=true")
	}
	if r.CSVFile != "" {
		args = append(args, "--profiling_output_csv_file="+r.CSVFile)
	}
	return args
}

// command builds the process: benchmark_model, under taskset when pinned.
// The CPUs go as a hexadecimal mask ("f0" for CPUs 4-7), the one form both
// util-linux's taskset and Android's toybox taskset (which has no -c) take.
func (o Options) command(ctx context.Context, args []string) *exec.Cmd {
	if len(o.CPUs) == 0 {
		return exec.CommandContext(ctx, o.Binary, args...)
	}
	return exec.CommandContext(ctx, o.Taskset, append([]string{CPUMask(o.CPUs), o.Binary}, args...)...)
}

// CPUMask is taskset's hexadecimal mask of a CPU list.
func CPUMask(cpus []int) string {
	var m big.Int
	for _, c := range cpus {
		m.SetBit(&m, c, 1)
	}
	return m.Text(16)
}

// limitedBuffer keeps at most MaxBytes of output and notes what it dropped.
type limitedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := MaxBytes - l.buf.Len(); room < len(p) {
		l.truncated = true
		l.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.buf.Write(p)
}

// Run runs benchmark_model on graph and reads its output. The run fails,
// with an error naming the delegate and the tool's reason, when the tool
// fails or the delegate did not take the graph; a partial delegation is
// returned as such in the DelegateInfo.
func Run(ctx context.Context, o Options, graph string, threads int, r Runs) (*Result, *profiler.DelegateInfo, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	var out limitedBuffer
	cmd := o.command(ctx, o.Args(graph, threads, r))
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return nil, nil, fmt.Errorf("start %s: %w", cmd.Path, runErr)
	}
	if out.truncated {
		return nil, nil, fmt.Errorf("%s printed more than %d bytes", o.Binary, MaxBytes)
	}
	res, perr := Parse(bytes.NewReader(out.buf.Bytes()))
	if perr != nil {
		return nil, nil, fmt.Errorf("%s %s: %v; output unreadable: %w; last output: %s", o.Binary, graph, exitStatus(runErr), perr, tail(out.buf.String()))
	}
	if err := res.Err(); err != nil {
		return res, nil, fmt.Errorf("%s (delegate %s, %s): %w", graph, o.Delegate, exitStatus(runErr), err)
	}
	if runErr != nil {
		return res, nil, fmt.Errorf("%s (delegate %s): benchmark_model %v; last output: %s", graph, o.Delegate, runErr, tail(out.buf.String()))
	}
	if r.CSVFile != "" {
		if err := readProfileCSV(res, r.CSVFile); err != nil {
			return res, nil, fmt.Errorf("%s: %w", graph, err)
		}
	}
	info, err := res.Delegation(o.Delegate, o.DelegateFlags())
	if err != nil {
		return res, nil, fmt.Errorf("%s: %w", graph, err)
	}
	if res.TimedRuns() == nil {
		return res, nil, fmt.Errorf("%s: benchmark_model printed no timing of the regular runs", graph)
	}
	return res, info, nil
}

// readProfileCSV reads the --profiling_output_csv_file the tool wrote (it
// then prints the op profile there instead of in its output) into res.
func readProfileCSV(res *Result, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("op profile CSV: %w", err)
	}
	defer f.Close()
	csv, err := Parse(f)
	if err != nil {
		return fmt.Errorf("op profile CSV %s: %w", path, err)
	}
	if csv.RunProfile == nil {
		return fmt.Errorf("op profile CSV %s has no profile of the regular runs", path)
	}
	if res.RunProfile == nil {
		res.RunProfile = csv.RunProfile
	}
	if res.InitProfile == nil {
		res.InitProfile = csv.InitProfile
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// tail is the end of the output, for errors.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}
