package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"edgenas/fleet"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/searcher/evaluate"
	"edgenas/tflite"
)

// fleetValidateTimer times int8 models on a class's agents: the
// lut.ModelTimer of lut validate --broker.
type fleetValidateTimer struct {
	e       *env
	ft      *fleetTimingFlags
	class   string
	threads int
	proto   profiler.Protocol
}

func (t fleetValidateTimer) TimeModels(ctx context.Context, names []string, build func(i int) (*tflite.Model, error)) ([]profiler.Measurement, lut.Provenance, error) {
	models := make([][]byte, len(names))
	for i, name := range names {
		m, err := build(i)
		if err != nil {
			return nil, lut.Provenance{}, fmt.Errorf("build %s: %w", name, err)
		}
		if models[i], err = tflite.Write(m); err != nil {
			return nil, lut.Provenance{}, fmt.Errorf("serialize %s: %w", name, err)
		}
	}
	return timeOnFleet(ctx, t.e, t.ft, t.class, t.threads, t.proto, names, models)
}

// timeOnFleet times serialized models on the class's agents (files in a
// temporary directory) and says which devices did.
func timeOnFleet(ctx context.Context, e *env, ft *fleetTimingFlags, class string, threads int, p profiler.Protocol,
	names []string, models [][]byte) ([]profiler.Measurement, lut.Provenance, error) {
	dir, err := os.MkdirTemp("", "edgenas-fleet-time-")
	if err != nil {
		return nil, lut.Provenance{}, err
	}
	defer os.RemoveAll(dir)
	cfg, err := ft.config(e, class, dir, threads, p)
	if err != nil {
		return nil, lut.Provenance{}, err
	}
	ms, rep, err := fleet.TimeModels(ctx, cfg, names, models)
	if err != nil {
		return nil, lut.Provenance{}, err
	}
	return ms, lut.Provenance{Source: lut.SourceFleet, Class: class, Devices: rep.Devices}, nil
}

// evalFleetFlags are evaluate's --class and fleet flags: with --broker the
// int8 picks are timed by the class's agents.
type evalFleetFlags struct {
	ft    fleetTimingFlags
	class string
}

func (f *evalFleetFlags) register(fs *flag.FlagSet) {
	f.ft.register(fs, false)
	fs.StringVar(&f.class, "class", "", "with --broker: the device class whose agents time the int8 models")
}

// timer is the evaluate.ModelTimer the flags ask for (nil: this host).
func (f *evalFleetFlags) timer(e *env, threads int, p profiler.Protocol) (evaluate.ModelTimer, error) {
	switch {
	case f.ft.hf.broker == "" && f.class == "":
		return nil, nil
	case f.ft.hf.broker == "" || f.class == "":
		return nil, usagef("--class and --broker go together: the class's agents time the models through the broker")
	}
	return &fleetModelTimer{e: e, ft: &f.ft, class: f.class, threads: threads, proto: p}, nil
}

// fleetModelTimer is evaluate's timer on a class's agents.
type fleetModelTimer struct {
	e       *env
	ft      *fleetTimingFlags
	class   string
	threads int
	proto   profiler.Protocol
	where   lut.Provenance
}

func (t *fleetModelTimer) TimeModels(ctx context.Context, names []string, models []*tflite.Model, group int) ([]profiler.Measurement, error) {
	bodies := make([][]byte, len(models))
	for i, m := range models {
		b, err := tflite.Write(m)
		if err != nil {
			return nil, fmt.Errorf("serialize %s: %w", names[i], err)
		}
		bodies[i] = b
	}
	t.ft.group = group
	ms, where, err := timeOnFleet(ctx, t.e, t.ft, t.class, t.threads, t.proto, names, bodies)
	if err == nil {
		t.where = where
	}
	return ms, err
}

func (t *fleetModelTimer) Where() string {
	if t.where.Source == "" {
		return "class " + t.class
	}
	return t.where.String()
}
