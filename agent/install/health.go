package install

import (
	"context"
	"fmt"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime"
	"edgenas/tflite"
)

// CheckProtocol is the short latency protocol of the health check: enough
// runs for a median, bounded to a couple of seconds so an install is quick.
func CheckProtocol() profiler.Protocol {
	return profiler.Protocol{WarmupRuns: 3, WarmupSecs: 0.02, MinRuns: 20, MinSecs: 0.05, MaxSecs: 2, RelTol: 0.05,
		Level: 0.95, MinSampleMicros: 200}
}

// HealthCheck loads the model at path on be, fills every input with
// profiler.FillRandomInputs(man.InputSeed) and invokes it. With an output
// check (man.HealthCheck()) it compares output tensor 0 with man.Expected:
// same length, every int8 value within man.MaxDiff quanta, and the same
// top-1 index; a timing check only needs the invocation to succeed. It then
// measures latency with p and returns the median in milliseconds. Errors
// read as the reason of a rollback ("health check: top-1 7 != expected 2").
func HealthCheck(ctx context.Context, be runtime.Backend, path string, man proto.Manifest, p profiler.Protocol) (float64, error) {
	m, err := tflite.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("health check: %w", err)
	}
	it, err := be.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		return 0, fmt.Errorf("health check: load on %s: %w", be.Name(), err)
	}
	defer it.Close()
	out, err := fixedOutput(it, m, man.InputSeed, man.HealthCheck() == proto.CheckOutput)
	if err != nil {
		return 0, fmt.Errorf("health check: %w", err)
	}
	if man.HealthCheck() == proto.CheckOutput {
		maxDiff := man.MaxDiff
		if expBackend := man.Backend; expBackend != be.Name() && !(expBackend == "" && be.Name() == "ref") {
			maxDiff = 255 // another backend's rounding: only the top-1 class must agree
		}
		if err := CompareOutput(out, man.Expected, maxDiff); err != nil {
			return 0, fmt.Errorf("health check: %w", err)
		}
	}
	ms, err := profiler.Measure(ctx, []profiler.Candidate{{Name: man.Name, Invoke: it.Invoke}}, p, be.Name(), 1)
	if err != nil {
		return 0, fmt.Errorf("health check: latency: %w", err)
	}
	return ms[0].Stats.P50 / 1000, nil
}

// ToolHealthCheck is the health check of an agent timing with TFLite's
// benchmark_model: the tool prints timings only, never outputs, so it can
// only hold a timing check (an output check is refused before download, see
// Models.acceptCheck). The model passes when the tool runs it with the
// agent's delegate (benchmodel.Run fails when the delegate was not applied)
// and reports the regular runs' timing; the median (the average on builds
// that print no percentiles) is returned in milliseconds.
func ToolHealthCheck(ctx context.Context, o benchmodel.Options, path string, man proto.Manifest, p profiler.Protocol) (float64, error) {
	if man.HealthCheck() != proto.CheckTiming {
		return 0, fmt.Errorf("health check: %s cannot check outputs (benchmark_model prints timings only)", benchmodel.BackendName(o.WithDefaults().Delegate))
	}
	res, _, err := benchmodel.Run(ctx, o, path, 1, benchmodel.Runs{WarmupRuns: p.WarmupRuns, WarmupMinSecs: p.WarmupSecs,
		Runs: p.MinRuns, MinSecs: p.MinSecs, MaxSecs: p.MaxSecs})
	if err != nil {
		return 0, fmt.Errorf("health check: benchmark_model: %w", err)
	}
	st := benchmodel.TimingStats(res.TimedRuns())
	if st.Count < 1 || !(st.P50 > 0) {
		return 0, fmt.Errorf("health check: benchmark_model timed %d runs at %g us", st.Count, st.P50)
	}
	return st.P50 / 1000, nil
}

// CompareOutput compares int8 outputs: equal length, top-1 index equal, and
// no element further than maxDiff quanta from the expected one.
func CompareOutput(got, want []byte, maxDiff int) error {
	if len(got) != len(want) {
		return fmt.Errorf("output has %d values, expected %d", len(got), len(want))
	}
	if len(got) == 0 {
		return fmt.Errorf("empty output")
	}
	if g, w := argmax(got), argmax(want); g != w {
		return fmt.Errorf("top-1 %d != expected %d", g, w)
	}
	worst, at := 0, 0
	for i := range got {
		d := int(int8(got[i])) - int(int8(want[i]))
		if d < 0 {
			d = -d
		}
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > maxDiff {
		return fmt.Errorf("output %d differs by %d quanta, at most %d allowed", at, worst, maxDiff)
	}
	return nil
}

// argmax is the first index of the largest int8 value.
func argmax(b []byte) int {
	best := 0
	for i := range b {
		if int8(b[i]) > int8(b[best]) {
			best = i
		}
	}
	return best
}

// FixedOutput loads m on be, fills every input with
// profiler.FillRandomInputs(seed), invokes it once and returns output tensor
// 0's int8 bytes: the output a manifest's Expected holds and a health check
// compares with. The host computes Expected with it, so both sides run the
// fixed input the same way.
func FixedOutput(be runtime.Backend, m *tflite.Model, seed uint64) ([]byte, error) {
	it, err := be.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("load on %s: %w", be.Name(), err)
	}
	defer it.Close()
	return fixedOutput(it, m, seed, true)
}

// fixedOutput invokes it on the seeded input and returns output tensor 0;
// int8Out requires that output to be int8 (what an output check compares).
func fixedOutput(it runtime.Interpreter, m *tflite.Model, seed uint64, int8Out bool) ([]byte, error) {
	if len(m.Outputs) == 0 {
		return nil, fmt.Errorf("the model has no output")
	}
	if typ := m.Output(0).Type; int8Out && typ != tflite.Int8 {
		return nil, fmt.Errorf("output 0 is %v, want int8 (quantize the model first)", typ)
	}
	if err := profiler.FillRandomInputs(it, seed); err != nil {
		return nil, err
	}
	if err := it.Invoke(); err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	out := it.Output(0)
	if len(out) == 0 {
		return nil, fmt.Errorf("output 0 is empty")
	}
	return out, nil
}
