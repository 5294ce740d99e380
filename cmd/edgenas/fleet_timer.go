package main

import (
	"context"
	"fmt"
	"os"

	"edgenas/fleet"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// fleetArchTimer times architectures' int8 models on a class's agents: the
// lut.ArchTimer of lut validate --broker.
type fleetArchTimer struct {
	e       *env
	ft      *fleetTimingFlags
	class   string
	threads int
	proto   profiler.Protocol
}

func (t fleetArchTimer) TimeArchs(ctx context.Context, archs []space.Arch) ([]profiler.Measurement, lut.Provenance, error) {
	names := make([]string, len(archs))
	models := make([][]byte, len(archs))
	for i, a := range archs {
		m, err := quantize.ArchModel(a, profiler.ModelSeed(a.String()))
		if err != nil {
			return nil, lut.Provenance{}, fmt.Errorf("build %s: %w", a, err)
		}
		if models[i], err = tflite.Write(m); err != nil {
			return nil, lut.Provenance{}, fmt.Errorf("serialize %s: %w", a, err)
		}
		names[i] = a.String()
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
	ms, rep, err := fleet.TimeModels(ctx, ft.config(e, class, dir, threads, p), names, models)
	if err != nil {
		return nil, lut.Provenance{}, err
	}
	return ms, lut.Provenance{Source: lut.SourceFleet, Class: class, Devices: rep.Devices}, nil
}
