package profiler

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/space"
	"edgenas/tflite"
)

// LayerResult is the measurement of one latency-table key.
type LayerResult struct {
	Key string `json:"key"`
	Measurement
}

// LayerJob describes how to profile a set of layers.
type LayerJob struct {
	Layers   []space.Layer
	Backend  runtime.Backend
	Threads  int
	Protocol Protocol
	// CPUs, if set, pins the measurement (interpreter threads included) to
	// these CPUs; see RunPinned. The conditions of every result record them.
	CPUs []int
	// Group is how many layers are measured together (interleaved) and
	// handed to Sink at once; 0 means 8.
	Group int
	// Sink receives each finished group; an error stops the job. Persisting
	// here is what makes an interrupted profile resumable.
	Sink func([]LayerResult) error
	// Progress, if set, is called after each group with keys done and total.
	Progress func(done, total int, last string)
}

// ModelSeed is the weight seed of a key's microbenchmark model: derived from
// the key so every device measures byte-identical models.
func ModelSeed(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// LayerModel builds the one-block int8 model that measures a layer.
func LayerModel(l space.Layer) (*tflite.Model, error) {
	m, err := quantize.LayerModel(l, ModelSeed(l.Key()))
	if err != nil {
		return nil, fmt.Errorf("build microbenchmark %s: %w", l.Key(), err)
	}
	return m, nil
}

// ProfileLayers measures every layer of job with a one-block model each,
// on job.CPUs if set.
func ProfileLayers(ctx context.Context, job LayerJob) error {
	return RunPinned(job.CPUs, func() error { return profileLayers(ctx, job) })
}

func profileLayers(ctx context.Context, job LayerJob) error {
	group := job.Group
	if group <= 0 {
		group = 8
	}
	name := job.Backend.Name()
	for start := 0; start < len(job.Layers); start += group {
		end := min(start+group, len(job.Layers))
		res, err := profileGroup(ctx, job, job.Layers[start:end], name)
		if err != nil {
			return err
		}
		if job.Sink != nil {
			if err := job.Sink(res); err != nil {
				return fmt.Errorf("store results: %w", err)
			}
		}
		if job.Progress != nil {
			job.Progress(end, len(job.Layers), res[len(res)-1].Key)
		}
	}
	return nil
}

func profileGroup(ctx context.Context, job LayerJob, layers []space.Layer, backend string) ([]LayerResult, error) {
	var its []runtime.Interpreter
	defer func() {
		for _, it := range its {
			it.Close()
		}
	}()
	cands := make([]Candidate, len(layers))
	for i, l := range layers {
		m, err := LayerModel(l)
		if err != nil {
			return nil, err
		}
		it, err := job.Backend.Load(m, runtime.Options{Threads: job.Threads})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", l.Key(), err)
		}
		its = append(its, it)
		if err := FillRandomInputs(it, ModelSeed(l.Key())); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Key(), err)
		}
		cands[i] = Candidate{Name: l.Key(), Invoke: it.Invoke}
	}
	ms, err := Measure(ctx, cands, job.Protocol, backend, job.Threads)
	if err != nil {
		return nil, err
	}
	out := make([]LayerResult, len(ms))
	for i, m := range ms {
		m.Conditions.PinnedCPUs = slices.Clone(job.CPUs)
		out[i] = LayerResult{Key: layers[i].Key(), Measurement: m}
	}
	return out, nil
}

// FillRandomInputs sets every graph input of it to seeded random values
// (uniform bytes for integer tensors, uniform [-1,1) for float ones).
func FillRandomInputs(it runtime.Interpreter, seed uint64) error {
	m := it.Model()
	rng := rand.New(rand.NewPCG(seed, 0x696e70))
	for i := range m.Inputs {
		t := m.Input(i)
		buf := make([]byte, t.Bytes())
		switch t.Type {
		case tflite.Float32:
			for j := 0; j+4 <= len(buf); j += 4 {
				putF32(buf[j:], float32(rng.Float64()*2-1))
			}
		default:
			for j := range buf {
				buf[j] = byte(rng.UintN(256))
			}
		}
		if err := it.SetInput(i, buf); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	return nil
}

func putF32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }
