package install

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/agent/proto"
	"edgenas/internal/refdata"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/profiler/benchmodel/replaytest"
	"edgenas/runtime/backends"
)

// quickProtocol keeps the health checks of these tests short.
func quickProtocol() profiler.Protocol {
	return profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MaxSecs: 0.5, RelTol: 0.5, Level: 0.9}
}

// TestHealthCheckModes runs HealthCheck on the ref backend with output and
// timing manifests: the output check compares, the timing check only needs
// the model to run.
func TestHealthCheckModes(t *testing.T) {
	body, exp := testModel(t, "fc-input:16-output:10")
	path := filepath.Join(t.TempDir(), ModelFile)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := append([]byte(nil), exp...)
	top := argmax(wrong)
	wrong[(top+1)%len(wrong)], wrong[top] = 127, 0x80
	tests := []struct {
		name    string
		man     proto.Manifest
		wantErr string
	}{
		{name: "output, as computed", man: proto.Manifest{Name: "m", InputSeed: 42, Expected: exp, MaxDiff: 0}},
		{name: "output stated, as computed", man: proto.Manifest{Name: "m", InputSeed: 42, Expected: exp, Check: proto.CheckOutput}},
		{name: "output, wrong top-1", man: proto.Manifest{Name: "m", InputSeed: 42, Expected: wrong, MaxDiff: 8}, wantErr: "health check: top-1"},
		{name: "timing", man: proto.Manifest{Name: "m", InputSeed: 42, Check: proto.CheckTiming}},
	}
	be, err := backends.Lookup("ref")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := HealthCheck(context.Background(), be, path, tc.man, quickProtocol())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !(ms > 0) {
				t.Fatalf("latency %g ms, %v", ms, err)
			}
		})
	}
}

// TestToolHealthCheck runs the benchmark_model health check with the replay
// program: a timing check reports the transcript's median; an output check
// is refused without running the tool; a run whose delegate failed, or that
// did not apply the delegate asked for, fails naming the delegate.
func TestToolHealthCheck(t *testing.T) {
	body, _ := testModel(t, "fc-input:16-output:10")
	path := filepath.Join(t.TempDir(), ModelFile)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	const xnn = "06-android-pixel6-cpu-xnnpack-efficientdet-lite0-int8.txt"
	kit := replaytest.New(t)
	timing := proto.Manifest{Name: "m", InputSeed: 1, Check: proto.CheckTiming}
	tests := []struct {
		name       string
		transcript string
		delegate   string
		man        proto.Manifest
		wantErr    string
		wantCalls  int
	}{
		{name: "timing", transcript: xnn, delegate: benchmodel.DelegateXNNPACK, man: timing, wantCalls: 1},
		{name: "output check", transcript: xnn, delegate: benchmodel.DelegateXNNPACK,
			man: proto.Manifest{Name: "m", Expected: []byte{1}}, wantErr: "benchmark-model-xnnpack cannot check outputs"},
		{name: "delegate failed", transcript: "07-nnapi-pixel6-failed-efficientdet-lite0-int8.txt", delegate: benchmodel.DelegateNNAPI,
			man: timing, wantErr: "NNAPI", wantCalls: 1},
		{name: "delegate not applied", transcript: xnn, delegate: benchmodel.DelegateNNAPI, man: timing, wantErr: "NNAPI", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := refdata.Path(t, filepath.Join("benchmark_model", tc.transcript))
			bin, calls := kit.Install(t, replaytest.Replay{Transcript: tr})
			ms, err := ToolHealthCheck(context.Background(), benchmodel.Options{Binary: bin, Delegate: tc.delegate}, path, tc.man, quickProtocol())
			if n := len(calls()); n != tc.wantCalls {
				t.Errorf("tool ran %d times, want %d", n, tc.wantCalls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := transcriptMS(t, tr)
			if ms != want {
				t.Errorf("latency %g ms, want the transcript's %g", ms, want)
			}
		})
	}
}

// transcriptMS is the regular runs' median of a benchmark_model transcript
// in ms, read as `bench import` reads it.
func transcriptMS(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := benchmodel.ImportTranscript(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return rep.Inference.P50 / 1000
}
