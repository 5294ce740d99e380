package benchmodel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel/replaytest"
	"edgenas/space"
)

// The tests below run a replay of a recorded transcript, not the real
// benchmark_model (none can run here): they check the command line edgenas
// builds and everything from the tool's output to results.

func transcriptPath(t *testing.T, name string) string {
	return refdata.Path(t, filepath.Join("benchmark_model", name))
}

func TestRunReplay(t *testing.T) {
	model := replaytest.Model(t)
	kit := replaytest.New(t)
	tests := []struct {
		name       string
		transcript string
		opts       Options
		require    map[string]string
		wantErr    string
		mode       string
		nodes      int
		partitions int
		avg        float64
		cpus       string
	}{
		{name: "nnapi edgetpu partial", transcript: transcripts[2],
			opts:    Options{Delegate: DelegateNNAPI, NNAPIAccelerator: "google-edgetpu", NNAPIAllowFP16: true, Threads: 1},
			require: map[string]string{"use_nnapi": "true", "nnapi_accelerator_name": "google-edgetpu", "nnapi_allow_fp16": "true", "num_threads": "1", "num_runs": "50", "warmup_runs": "5"},
			mode:    ModePartial, nodes: 62, partitions: 3, avg: 1389.89},
		{name: "pinned with taskset", transcript: transcripts[2],
			opts:    Options{Delegate: DelegateNNAPI, CPUs: []int{0}},
			require: map[string]string{"use_nnapi": "true"}, mode: ModePartial, nodes: 62, partitions: 3, avg: 1389.89, cpus: "0"},
		{name: "gpu fp32", transcript: transcripts[3], opts: Options{Delegate: DelegateGPU, GPUPrecision: "fp32", GPUBackend: "cl"},
			require: map[string]string{"use_gpu": "true", "gpu_precision_loss_allowed": "false", "gpu_backend": "cl"},
			mode:    ModeComplete, avg: 115246},
		{name: "external", transcript: transcripts[7], opts: Options{Delegate: "external:/usr/lib/libvx_delegate.so", ExternalOptions: "a:1"},
			require: map[string]string{"external_delegate_path": "/usr/lib/libvx_delegate.so", "external_delegate_options": "a:1"},
			mode:    ModePartial, avg: 12822.1},
		{name: "cpu builtin", transcript: transcripts[0], opts: Options{Delegate: DelegateCPU},
			require: map[string]string{"use_xnnpack": "false"}, mode: ModeComplete, avg: 162980},
		{name: "failed nnapi", transcript: transcripts[6], opts: Options{Delegate: DelegateNNAPI},
			wantErr: "NNAPI delegate: NN API returned error ANEURALNETWORKS_OP_FAILED"},
		{name: "gpu asked, transcript never used it", transcript: transcripts[2], opts: Options{Delegate: DelegateGPU},
			wantErr: "GPU delegate: not applied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin, calls := kit.Install(t, replaytest.Replay{Transcript: transcriptPath(t, tc.transcript), Require: tc.require})
			tc.opts.Binary = bin
			res, info, err := Run(context.Background(), tc.opts, model, 1, Runs{WarmupRuns: 5, Runs: 50})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode != tc.mode || info.Nodes != tc.nodes || info.Partitions != tc.partitions || res.TimedRuns().Avg != tc.avg {
				t.Errorf("delegate %+v avg %g, want %s %d nodes %d partitions avg %g", *info, res.TimedRuns().Avg, tc.mode, tc.nodes, tc.partitions, tc.avg)
			}
			cs := calls()
			if len(cs) != 1 || cs[0].Args[0] != "--graph="+model {
				t.Fatalf("calls %+v", cs)
			}
			if tc.cpus != "" && cs[0].CPUs != tc.cpus {
				t.Errorf("ran on CPUs %q, want %q (taskset)", cs[0].CPUs, tc.cpus)
			}
		})
	}
}

func TestCPUMask(t *testing.T) {
	tests := []struct {
		cpus []int
		want string
	}{
		{cpus: []int{0}, want: "1"},
		{cpus: []int{4, 5, 6, 7}, want: "f0"},
		{cpus: []int{1, 3}, want: "a"},
		{cpus: []int{64}, want: "10000000000000000"},
	}
	for _, tc := range tests {
		if got := CPUMask(tc.cpus); got != tc.want {
			t.Errorf("CPUMask(%v) = %s, want %s", tc.cpus, got, tc.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	model := replaytest.Model(t)
	t.Setenv(EnvBinary, "")
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no binary", opts: Options{}, want: "no benchmark_model binary"},
		{name: "missing binary", opts: Options{Binary: filepath.Join(t.TempDir(), "nope")}, want: "start"},
		{name: "bad delegate", opts: Options{Binary: "x", Delegate: "tpu"}, want: `unknown delegate "tpu"`},
		{name: "external without lib", opts: Options{Binary: "x", Delegate: "external:"}, want: "needs the library path"},
		{name: "bad precision", opts: Options{Binary: "x", Delegate: DelegateGPU, GPUPrecision: "int4"}, want: "GPU precision"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Run(context.Background(), tc.opts, model, 1, Runs{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A flag benchmark_model does not have is refused by the replay (the real
	// tool would only warn): Args must use the tool's names only.
	bin, _ := replaytest.Install(t, replaytest.Replay{Transcript: transcriptPath(t, transcripts[2])})
	o := Options{Binary: bin, Delegate: DelegateNNAPI, NNAPIPreference: "sustained_speed", HexagonLibPath: "/x", RequireFull: true}
	if _, _, err := Run(context.Background(), o, model, 2, Runs{WarmupRuns: 1, WarmupMinSecs: 0.5, Runs: 3, MinSecs: 1, MaxSecs: 9, OpProfiling: true}); err != nil {
		t.Errorf("every flag edgenas passes must be benchmark_model's: %v", err)
	}
	var re *RunError
	_, _, err := Run(context.Background(), Options{Binary: bin, Delegate: DelegateHexagon}, model, 1, Runs{})
	if !errors.As(err, &re) || re.Delegate != "Hexagon" {
		t.Errorf("hexagon on an NNAPI transcript: %v, want a RunError naming Hexagon", err)
	}
}

// TestRunProfileCSV: with --profiling_output_csv_file the tool writes the op
// profile to the file; Run reads it from there.
func TestRunProfileCSV(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "recorded.csv")
	if err := os.WriteFile(src, []byte(csvProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "profile.csv")
	bin, _ := replaytest.Install(t, replaytest.Replay{Transcript: transcriptPath(t, transcripts[5]), CSV: src,
		Require: map[string]string{"enable_op_profiling": "true", "profiling_output_csv_file": out}})
	res, info, err := Run(context.Background(), Options{Binary: bin}, replaytest.Model(t), 4, Runs{CSVFile: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunProfile == nil || len(res.RunProfile.RunOrder) != 2 || info.Mode != ModePartial || info.Partitions != 26 {
		t.Errorf("profile %+v delegate %+v", res.RunProfile, info)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	bad, _ := replaytest.Install(t, replaytest.Replay{Transcript: transcriptPath(t, transcripts[5])})
	if _, _, err := Run(context.Background(), Options{Binary: bad}, replaytest.Model(t), 4, Runs{CSVFile: out}); err == nil ||
		!strings.Contains(err.Error(), "op profile CSV") {
		t.Errorf("no CSV written: error %v", err)
	}
}

// TestProfileLayersReplay: latency-table keys measured through the tool carry
// the delegate, its options and the partition counts in their conditions.
func TestProfileLayersReplay(t *testing.T) {
	bin, calls := replaytest.Install(t, replaytest.Replay{Transcript: transcriptPath(t, transcripts[2]),
		Require: map[string]string{"use_nnapi": "true", "nnapi_accelerator_name": "google-edgetpu", "num_threads": "2"}})
	layers := space.MustLookup("spnas-fmnist").UniqueKeys()[:3]
	var got []profiler.LayerResult
	o := Options{Binary: bin, Delegate: DelegateNNAPI, NNAPIAccelerator: "google-edgetpu"}
	err := ProfileLayers(context.Background(), o, profiler.LayerJob{Layers: layers, Threads: 2, Protocol: profiler.DefaultProtocol(), Group: 2,
		Sink: func(rs []profiler.LayerResult) error { got = append(got, rs...); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, r := range got {
		if r.Retried {
			retried++ // measured again because the machine was busy or throttled
		}
	}
	if len(got) != 3 || len(calls()) != 3+retried {
		t.Fatalf("%d results (%d retried) from %d calls, want 3", len(got), retried, len(calls()))
	}
	for i, r := range got {
		c := r.Conditions
		d := c.Delegate
		if r.Key != layers[i].Key() || c.Backend != "benchmark-model-nnapi" || c.Threads != 2 || d == nil || !d.Partial() ||
			d.Nodes != 62 || d.TotalNodes != 64 || d.Partitions != 3 || d.Options["nnapi_accelerator_name"] != "google-edgetpu" {
			t.Errorf("result %d: key %s conditions %+v delegate %+v", i, r.Key, c, d)
		}
		if r.Stats.P50 != 1354 || r.Stats.Mean != 1389.89 || r.Stats.Count != 710 {
			t.Errorf("result %d stats %+v", i, r.Stats)
		}
	}
}
