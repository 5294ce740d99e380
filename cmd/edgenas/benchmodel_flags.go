package main

import (
	"context"
	"flag"
	"fmt"
	"reflect"
	"strings"

	"edgenas/agent"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime/backends"
)

// benchModelFlags select and configure TFLite's benchmark_model as the
// timing backend (--backend benchmark-model) of profile, bench and agent.
type benchModelFlags struct {
	o benchmodel.Options
}

func (b *benchModelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.o.Binary, "benchmark-model", "", "TFLite benchmark_model binary for --backend benchmark-model (default $"+benchmodel.EnvBinary+")")
	fs.StringVar(&b.o.Delegate, "delegate", "", "benchmark_model delegate: "+strings.Join(benchmodel.DelegateNames(), ", ")+" (default xnnpack)")
	fs.StringVar(&b.o.NNAPIAccelerator, "nnapi-accelerator", "", "NNAPI device name (google-edgetpu, qti-dsp, ...; the tool lists them)")
	fs.BoolVar(&b.o.NNAPIAllowFP16, "nnapi-allow-fp16", false, "let NNAPI run fp32 parts in fp16")
	fs.StringVar(&b.o.NNAPIPreference, "nnapi-preference", "", "NNAPI execution preference: fast_single_answer, sustained_speed or low_power")
	fs.StringVar(&b.o.GPUPrecision, "gpu-precision", "", "GPU delegate precision: fp16 (loss allowed) or fp32")
	fs.StringVar(&b.o.GPUBackend, "gpu-backend", "", "GPU delegate backend: cl or gl (default: CL, then GL)")
	fs.StringVar(&b.o.HexagonLibPath, "hexagon-lib-path", "", "directory of the Hexagon skel libraries")
	fs.StringVar(&b.o.ExternalOptions, "external-delegate-options", "", "options of an external delegate, k1:v1;k2:v2")
	fs.BoolVar(&b.o.RequireFull, "require-full-delegation", false, "fail when the delegate leaves any node to the CPU")
}

// options returns the benchmark_model options when backend selects it, nil
// for edgenas's own backends; benchmark_model settings given with another
// backend are a usage error (they would silently do nothing).
func (b *benchModelFlags) options(backend string, threads int) (*benchmodel.Options, error) {
	if backend != benchmodel.Backend {
		if !reflect.ValueOf(b.o).IsZero() {
			return nil, usagef("--delegate and the other benchmark_model settings need --backend %s", benchmodel.Backend)
		}
		return nil, nil
	}
	o := b.o.WithDefaults()
	o.Threads = threads
	if err := o.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	if err := o.CheckBinary(); err != nil {
		return nil, usagef("%v", err)
	}
	return &o, nil
}

// layerMeasurer returns how profile measures a job's layers, and the
// backend name its table entries carry.
func layerMeasurer(backend string, threads int, bm *benchModelFlags) (func(context.Context, profiler.LayerJob) error, string, error) {
	o, err := bm.options(backend, threads)
	if err != nil {
		return nil, "", err
	}
	if o != nil {
		return func(ctx context.Context, job profiler.LayerJob) error {
			to := *o
			if len(job.CPUs) > 0 {
				to.CPUs = job.CPUs // taskset: the tool is another process
			}
			return benchmodel.ProfileLayers(ctx, to, job)
		}, benchmodel.BackendName(o.Delegate), nil
	}
	b, err := backends.Lookup(backend)
	if err != nil {
		return nil, "", usagef("%v (or %s)", err, benchmodel.Backend)
	}
	return func(ctx context.Context, job profiler.LayerJob) error {
		job.Backend = b
		return profiler.ProfileLayers(ctx, job)
	}, backend, nil
}

// benchWithTool times a model with benchmark_model (bench --backend benchmark-model).
func benchWithTool(ctx context.Context, e *env, o benchmodel.Options, model string, runs benchmodel.Runs, asJSON bool) error {
	res, info, err := benchmodel.Run(ctx, o, model, o.Threads, runs)
	if err != nil {
		return fmt.Errorf("bench %s: %w", model, err)
	}
	rep, err := benchmodel.NewReport(res, o.Delegate, info)
	if err != nil {
		return fmt.Errorf("bench %s: %w", model, err)
	}
	if rep.Graph == "" {
		rep.Graph = model
	}
	if rep.Threads == 0 {
		rep.Threads = o.Threads
	}
	if asJSON {
		return writeJSON(e.stdout, rep)
	}
	return rep.WriteText(e.stdout)
}

// agentToolBackend configures an agent started with --backend
// benchmark-model: jobs are timed by the tool, and so are deployed models'
// (timing-only) health checks.
func agentToolBackend(cfg *agent.Config, bm *benchModelFlags) error {
	o, err := bm.options(cfg.Backend, 1) // each job's threads override 1
	if err != nil || o == nil {
		return err
	}
	cfg.BenchmarkModel = o
	cfg.Backend = "ref"
	if av := backends.Available(); len(av) > 0 {
		cfg.Backend = av[0]
	}
	return nil
}
