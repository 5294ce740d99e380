package benchmodel

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"edgenas/profiler"
)

// TestImportTranscripts: every successful transcript becomes a bench result
// labelled with the delegate it ran on; the failed one is an error naming NNAPI.
func TestImportTranscripts(t *testing.T) {
	tests := []struct {
		file       string
		backend    string
		mode       string
		nodes      int
		total      int
		partitions int
		kernels    int
		avg        float64
		p50        float64
		threads    int
		opRows     int
		failDeleg  string
	}{
		{file: transcripts[0], backend: "benchmark-model-cpu", mode: ModeComplete, avg: 162980, p50: 162980, opRows: 31},
		{file: transcripts[1], backend: "benchmark-model-xnnpack", mode: modeUnknown, avg: 15517.6, p50: 15517.6, opRows: 171},
		{file: transcripts[2], backend: "benchmark-model-nnapi", mode: ModePartial, nodes: 62, total: 64, partitions: 3, kernels: 1,
			avg: 1389.89, p50: 1354},
		{file: transcripts[3], backend: "benchmark-model-gpu", mode: ModeComplete, kernels: 1, avg: 115246, p50: 115350},
		{file: transcripts[4], backend: "benchmark-model-nnapi", mode: ModePartial, kernels: 3, avg: 158715, p50: 158715, opRows: 11},
		{file: transcripts[5], backend: "benchmark-model-xnnpack", mode: ModePartial, nodes: 253, total: 266, partitions: 26,
			avg: 9212.05, p50: 9196, threads: 4},
		{file: transcripts[6], failDeleg: "NNAPI"},
		{file: transcripts[7], backend: "benchmark-model-external-vx_delegate", mode: ModePartial, kernels: 1, avg: 12822.1, p50: 12822.1, opRows: 2},
	}
	for _, tc := range tests {
		t.Run(tc.file[:2], func(t *testing.T) {
			in, err := ImportTranscript(bytes.NewReader(transcript(t, tc.file)))
			if tc.failDeleg != "" {
				var re *RunError
				if !errors.As(err, &re) || re.Delegate != tc.failDeleg {
					t.Fatalf("import error %v, want one naming %s", err, tc.failDeleg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := in.Delegate
			if in.Backend != tc.backend || d.Mode != tc.mode || d.Nodes != tc.nodes || d.TotalNodes != tc.total ||
				d.Partitions != tc.partitions || d.Kernels != tc.kernels {
				t.Errorf("backend %s delegate %+v, want %s %s %d/%d nodes %d partitions %d kernels",
					in.Backend, *d, tc.backend, tc.mode, tc.nodes, tc.total, tc.partitions, tc.kernels)
			}
			if in.Inference.Mean != tc.avg || in.Inference.P50 != tc.p50 || in.Threads != tc.threads || len(in.Nodes) != tc.opRows {
				t.Errorf("mean %g p50 %g threads %d op rows %d, want %g %g %d %d",
					in.Inference.Mean, in.Inference.P50, in.Threads, len(in.Nodes), tc.avg, tc.p50, tc.threads, tc.opRows)
			}
			s := in.Inference
			if !(s.Min <= s.P10 && s.P10 <= s.P50 && s.P50 <= s.P90 && s.P90 <= s.Max) {
				t.Errorf("stats out of order: %+v", s)
			}
			var out strings.Builder
			if err := in.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			if partial := strings.Contains(out.String(), "partial delegation"); partial != (tc.mode == ModePartial) {
				t.Errorf("text output mentions partial delegation: %v, want %v:\n%s", partial, tc.mode == ModePartial, out.String())
			}
		})
	}
}

// TestDelegationRefused: a delegate the tool did not use is an error naming
// it, never a CPU timing under the delegate's name.
func TestDelegationRefused(t *testing.T) {
	cpuRun := "STARTING!\nRunning benchmark for at least 1 iterations\ncount=2 curr=10(all same)\n\n" +
		"Running benchmark for at least 5 iterations\ncount=5 curr=10(all same)\n"
	tests := []struct {
		name     string
		text     string
		delegate string
		want     string
	}{
		{name: "not executed", delegate: DelegateNNAPI, want: "NNAPI delegate: the model graph will not be executed",
			text: "STARTING!\nThough NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.\n" + cpuRun},
		{name: "unsupported platform", delegate: DelegateGPU, want: "GPU acceleration is unsupported on this platform",
			text: "STARTING!\nGPU acceleration is unsupported on this platform.\n" + cpuRun},
		{name: "hexagon libraries missing", delegate: DelegateHexagon, want: "Hexagon delegate: not applied",
			text: "STARTING!\nCould not create Hexagon delegate: platform may not support delegate or required libraries are missing\n" + cpuRun},
		{name: "nnapi flags on a non-Android build", delegate: DelegateNNAPI, want: "Unconsumed cmdline flags: --use_nnapi=true",
			text: "STARTING!\nUnconsumed cmdline flags: --use_nnapi=true\n" + cpuRun},
		{name: "cpu but xnnpack took nodes", delegate: DelegateCPU, want: "CPU delegate: builtin kernels asked for",
			text: "STARTING!\nReplacing 3 out of 3 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions.\n" + cpuRun},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Delegation(tc.delegate, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Delegation(%s) error %v, want %q", tc.delegate, err, tc.want)
			}
		})
	}
}

// TestDelegationCounts: delegations read from the lines each delegate prints
// (no real Hexagon transcript was found; these lines are the delegate's
// documented formats).
func TestDelegationCounts(t *testing.T) {
	run := "Running benchmark for at least 1 iterations\ncount=2 curr=10(all same)\n\n" +
		"Running benchmark for at least 5 iterations\ncount=5 curr=10(all same)\n"
	tests := []struct {
		name     string
		delegate string
		text     string
		want     profiler.DelegateInfo
	}{
		{name: "hexagon partial", delegate: DelegateHexagon,
			text: "INFO: STARTING!\nINFO: Hexagon delegate: 60 nodes delegated out of 64 nodes with 2 partitions.\n" + prefixAll(run),
			want: profiler.DelegateInfo{Name: DelegateHexagon, Mode: ModePartial, Nodes: 60, TotalNodes: 64, Partitions: 2}},
		{name: "nnapi complete via replacing line", delegate: DelegateNNAPI,
			text: "STARTING!\nReplacing 31 out of 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions.\n" + run,
			want: profiler.DelegateInfo{Name: DelegateNNAPI, Mode: ModeComplete, Nodes: 31, TotalNodes: 31, Partitions: 1}},
		{name: "gpu with its own split", delegate: DelegateGPU,
			text: "STARTING!\nCreated TensorFlow Lite delegate for GPU.\n" +
				"Replacing 29 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions.\n" +
				"29 operations will run on the GPU, and the remaining 2 operations will run on the CPU.\nCreated 1 GPU delegate kernels.\n" + run,
			want: profiler.DelegateInfo{Name: DelegateGPU, Mode: ModePartial, Nodes: 29, TotalNodes: 31, Partitions: 2, Kernels: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Delegation(tc.delegate, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("delegation %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func prefixAll(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "INFO: " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
