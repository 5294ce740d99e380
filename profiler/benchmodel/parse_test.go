package benchmodel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

// transcript reads one of the real benchmark_model transcripts in the shared
// data (see its README for where each comes from).
func transcript(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(refdata.Path(t, filepath.Join("benchmark_model", name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var transcripts = []string{
	"01-cpu-builtin-opprof-imx8mp-mobilenet-v1-quant.txt",
	"02-xnnpack-opprof-x86-efficientdet-lite0-int8.txt",
	"03-nnapi-pixel6-edgetpu-partial-efficientnet-lite0-int8.txt",
	"04-gpu-opencl-qrb2210-mobilenet-quant.txt",
	"05-nnapi-opprof-mi11-qti-gpu-yolov5s-fp32.txt",
	"06-android-pixel6-cpu-xnnpack-efficientdet-lite0-int8.txt",
	"07-nnapi-pixel6-failed-efficientdet-lite0-int8.txt",
	"08-external-vx-delegate-opprof-imx8mp-ssd-mobilenet-quant.txt",
}

// TestParseTranscripts asserts the figures of every real transcript, read
// from the files by hand.
func TestParseTranscripts(t *testing.T) {
	tests := []struct {
		file      string
		prefixed  bool
		warmup    Timing // zero: none printed
		inference Timing
		summary   Summary
		memory    Memory
		created   []string
		replace   []Replacement
		apply     []Application
		runRows   int // Run Order rows of the regular runs' profile (0: no profile)
		hasStart  bool
		failDeleg string // non-empty: the run failed naming this delegate
		graph     string
	}{
		{file: transcripts[0], prefixed: false,
			warmup:    Timing{Count: 4, First: 169816, Curr: 162804, Min: 162804, Max: 169816, Avg: 164822, Std: 2899},
			inference: Timing{Count: 50, First: 162827, Curr: 162916, Min: 162744, Max: 163299, Avg: 162980, Std: 146},
			summary:   Summary{InitUs: 2409, FirstUs: 169816, WarmupAvgUs: 164822, AvgUs: 162980},
			memory:    Memory{Kind: "peak", InitMB: 4.10156, OverallMB: 10.332},
			runRows:   31, hasStart: true, graph: "mobilenet_v1_1.0_224_quant/mobilenet_v1_1.0_224_quant.tflite"},
		{file: transcripts[1], prefixed: true,
			warmup:    Timing{Count: 32, First: 19834, Curr: 15648, Min: 14936, Max: 21608, Avg: 15997.4, Std: 1663},
			inference: Timing{Count: 64, First: 16067, Curr: 15102, Min: 14661, Max: 17579, Avg: 15517.6, Std: 551},
			summary:   Summary{InitUs: 32163, FirstUs: 19834, WarmupAvgUs: 15997.4, AvgUs: 15517.6},
			memory:    Memory{Kind: "delta", InitMB: 22.0273, OverallMB: 34.8281},
			created:   []string{"XNNPACK"}, runRows: 171,
			graph: "../tflite/efficientdet-tflite-lite0-detection-default-v1/1.tflite"},
		{file: transcripts[2], prefixed: true,
			warmup: Timing{Count: 353, First: 5544, Curr: 1372, Min: 1308, Max: 5544, Avg: 1398.18, Std: 234,
				P5: 1326, Median: 1354, P95: 1577, HasPercentiles: true},
			inference: Timing{Count: 710, First: 1384, Curr: 1377, Min: 1309, Max: 1699, Avg: 1389.89, Std: 80,
				P5: 1327, Median: 1354, P95: 1578, HasPercentiles: true},
			summary: Summary{InitUs: 1499796, FirstUs: 5544, WarmupAvgUs: 1398.18, AvgUs: 1389.89},
			memory:  Memory{Kind: "delta", InitMB: 15.3164, OverallMB: 15.6289},
			created: []string{"NNAPI", "XNNPACK"},
			replace: []Replacement{{Delegate: "TfLiteNnapiDelegate", Replaced: 62, Total: 64, Partitions: 3}},
			apply:   []Application{{Delegate: "NNAPI", Mode: ModePartial, Kernels: 1}},
			graph:   "/data/local/tmp/tflite/efficientnet_lite0_int8.tflite"},
		{file: transcripts[3], prefixed: true,
			warmup: Timing{Count: 5, First: 125113, Curr: 112537, Min: 111758, Max: 125113, Avg: 115344, Std: 4959,
				P5: 111758, Median: 112912, P95: 125113, HasPercentiles: true},
			inference: Timing{Count: 50, First: 119614, Curr: 115889, Min: 111842, Max: 119614, Avg: 115246, Std: 1329,
				P5: 112107, Median: 115350, P95: 116620, HasPercentiles: true},
			summary: Summary{InitUs: 1361236, FirstUs: 125113, WarmupAvgUs: 115344, AvgUs: 115246},
			memory:  Memory{Kind: "delta", InitMB: 132.816, OverallMB: 132.816},
			created: []string{"GPU"}, apply: []Application{{Delegate: "GPU", Mode: ModeComplete}},
			graph: "mobilenet_quant_v1_224.tflite"},
		{file: transcripts[4], runRows: 11, hasStart: true},
		{file: transcripts[5], prefixed: true,
			warmup: Timing{Count: 38, First: 18763, Curr: 8938, Min: 8903, Max: 69346, Avg: 13338.4, Std: 12199,
				P5: 8928, Median: 9023, P95: 48561, HasPercentiles: true},
			inference: Timing{Count: 109, First: 8974, Curr: 9450, Min: 8945, Max: 9660, Avg: 9212.05, Std: 138,
				P5: 9057, Median: 9196, P95: 9485, HasPercentiles: true},
			summary: Summary{InitUs: 22942, FirstUs: 18763, WarmupAvgUs: 13338.4, AvgUs: 9212.05},
			memory:  Memory{Kind: "delta", InitMB: 24.9727, OverallMB: 29.3672},
			created: []string{"XNNPACK"},
			replace: []Replacement{{Delegate: "TfLiteXNNPackDelegate", Replaced: 253, Total: 266, Partitions: 26}},
			graph:   "/data/local/tmp/tflite/efficientdet_lite0_int8.tflite"},
		{file: transcripts[6], prefixed: true, created: []string{"NNAPI"},
			replace:   []Replacement{{Delegate: "TfLiteNnapiDelegate", Replaced: 265, Total: 266, Partitions: 2}},
			failDeleg: "NNAPI", graph: "/data/local/tmp/tflite/efficientdet_lite0_int8.tflite"},
		{file: transcripts[7], prefixed: false,
			warmup:    Timing{Count: 1, First: 8454279, Curr: 8454279, Min: 8454279, Max: 8454279, Avg: 8454279},
			inference: Timing{Count: 77, First: 12656, Curr: 12862, Min: 12656, Max: 12920, Avg: 12822.1, Std: 41},
			summary:   Summary{InitUs: 14432, FirstUs: 8454279, WarmupAvgUs: 8.45428e+06, AvgUs: 12822.1},
			memory:    Memory{Kind: "peak", InitMB: 8.5625, OverallMB: 50.668},
			created:   []string{"EXTERNAL"}, apply: []Application{{Delegate: "EXTERNAL", Mode: ModePartial, Kernels: 1}},
			runRows: 2, hasStart: true, graph: "ssd_mobilenet_v1_quantized_300x300_coco14_sync_2018_07_18/model.tflite"},
	}
	for _, tc := range tests {
		t.Run(tc.file[:2], func(t *testing.T) {
			r, err := Parse(bytes.NewReader(transcript(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Prefixed != tc.prefixed {
				t.Errorf("prefixed %v, want %v", r.Prefixed, tc.prefixed)
			}
			if r.Graph() != tc.graph {
				t.Errorf("graph %q, want %q", r.Graph(), tc.graph)
			}
			checkTiming(t, "warm-up", r.Warmup, tc.warmup)
			checkTiming(t, "inference", r.Inference, tc.inference)
			if tc.summary.AvgUs != 0 && (r.Summary == nil || *r.Summary != tc.summary) {
				t.Errorf("summary %+v, want %+v", r.Summary, tc.summary)
			}
			if tc.memory.Kind != "" && (r.Memory == nil || *r.Memory != tc.memory) {
				t.Errorf("memory %+v, want %+v", r.Memory, tc.memory)
			}
			if strings.Join(r.Created, ",") != strings.Join(tc.created, ",") {
				t.Errorf("created %v, want %v", r.Created, tc.created)
			}
			if len(r.Replacements) != len(tc.replace) || (len(tc.replace) > 0 && r.Replacements[0] != tc.replace[0]) {
				t.Errorf("replacements %+v, want %+v", r.Replacements, tc.replace)
			}
			if len(r.Applications) != len(tc.apply) || (len(tc.apply) > 0 && r.Applications[0] != tc.apply[0]) {
				t.Errorf("applications %+v, want %+v", r.Applications, tc.apply)
			}
			if got := 0; r.RunProfile != nil {
				got = len(r.RunProfile.RunOrder)
				if got != tc.runRows || r.RunProfile.HasStart != tc.hasStart {
					t.Errorf("run profile: %d Run Order rows (start column %v), want %d (%v)", got, r.RunProfile.HasStart, tc.runRows, tc.hasStart)
				}
			} else if tc.runRows != 0 {
				t.Errorf("no run profile, want %d rows", tc.runRows)
			}
			err = r.Err()
			var re *RunError
			if tc.failDeleg == "" {
				if err != nil {
					t.Errorf("Err() = %v, want nil", err)
				}
			} else if !errors.As(err, &re) || re.Delegate != tc.failDeleg || !strings.Contains(err.Error(), tc.failDeleg) {
				t.Errorf("Err() = %v, want a RunError naming %s", err, tc.failDeleg)
			}
		})
	}
}

func checkTiming(t *testing.T, what string, got *Timing, want Timing) {
	t.Helper()
	if want.Count == 0 {
		if got != nil {
			t.Errorf("%s: got %+v, want none", what, *got)
		}
		return
	}
	if got == nil || *got != want {
		t.Errorf("%s: got %+v\nwant %+v", what, got, want)
	}
}

// TestParseProfiles checks the op tables of both layouts: tabs with a
// [start] column (01, 05, 08), spaces copied from a terminal with type names
// that contain spaces and commas (02), and a type wider than its column (08).
func TestParseProfiles(t *testing.T) {
	tests := []struct {
		file     string
		row      int // index into Run Order
		wantRow  OpRow
		top      OpRow // first Top by Computation Time row
		byType   TypeRow
		executed int
		timings  Timing
	}{
		{file: transcripts[0], row: 1,
			wantRow: OpRow{Type: "DEPTHWISE_CONV_2D", StartMs: 7.651, FirstMs: 1.861, AvgMs: 1.797, Percent: 1.103, CDF: 5.793,
				TimesCalled: 1, Name: "[MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6]:1"},
			top: OpRow{Type: "CONV_2D", StartMs: 38.628, FirstMs: 13.736, AvgMs: 13.847, Percent: 8.5, CDF: 8.5, TimesCalled: 1,
				Name: "[MobilenetV1/MobilenetV1/Conv2d_3_pointwise/Relu6]:6"},
			byType:   TypeRow{Type: "CONV_2D", Count: 15, AvgMs: 143.812, Percent: 88.285, CDF: 88.285, TimesCalled: 15},
			executed: 31,
			timings:  Timing{Count: 50, First: 162746, Curr: 162847, Min: 162674, Max: 163230, Avg: 162910, Std: 147}},
		{file: transcripts[1], row: 2,
			wantRow: OpRow{Type: "Convolution (NHWC, QC8) DWConv", FirstMs: 0.428, AvgMs: 0.051, Percent: 4.317, CDF: 8.304,
				TimesCalled: 13, Name: "Delegate/Convolution (NHWC, QC8) DWConv:1"},
			top: OpRow{Type: "TFLite_Detection_PostProcess", FirstMs: 3.894, AvgMs: 3.653, Percent: 23.862, CDF: 23.862, TimesCalled: 1,
				Name: "[StatefulPartitionedCall:3, StatefulPartitionedCall:2, StatefulPartitionedCall:1, StatefulPartitionedCall:0]:266"},
			byType:   TypeRow{Type: "Convolution (NHWC, QC8) GEMM", Count: 62, AvgMs: 5.236, Percent: 34.361, CDF: 34.361, TimesCalled: 101},
			executed: 171,
			timings:  Timing{Count: 64, First: 15808, Curr: 14892, Min: 14470, Max: 17363, Avg: 15309.2, Std: 542}},
		{file: transcripts[4], row: 6,
			wantRow: OpRow{Type: "TfLiteNnapiDelegate", StartMs: 8.377, FirstMs: 78.701, AvgMs: 79.01, Percent: 49.781, CDF: 55.042,
				TimesCalled: 1, Name: "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231"},
			top: OpRow{Type: "TfLiteNnapiDelegate", StartMs: 8.377, FirstMs: 78.701, AvgMs: 79.01, Percent: 49.781, CDF: 49.781,
				TimesCalled: 1, Name: "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231"},
			byType:   TypeRow{Type: "TfLiteNnapiDelegate", Count: 3, AvgMs: 149.483, Percent: 94.187, CDF: 94.187, TimesCalled: 3},
			executed: 11,
			timings:  Timing{Count: 50, First: 164033, Curr: 158560, Min: 146535, Max: 166638, Avg: 158715, Std: 2931}},
		{file: transcripts[7], row: 1,
			wantRow: OpRow{Type: "TFLite_Detection_PostProcess", StartMs: 10.88, FirstMs: 1.87, AvgMs: 1.91, Percent: 14.951, CDF: 100,
				TimesCalled: 1, Name: "[TFLite_Detection_PostProcess, TFLite_Detection_PostProcess:1, TFLite_Detection_PostProcess:2, TFLite_Detection_PostProcess:3]:63"},
			top: OpRow{Type: "Vx Delegate", StartMs: 0.015, FirstMs: 10.725, AvgMs: 10.864, Percent: 85.049, CDF: 85.049, TimesCalled: 1,
				Name: "[Squeeze, convert_scores]:64"},
			byType:   TypeRow{Type: "Vx Delegate", Count: 1, AvgMs: 10.864, Percent: 85.054, CDF: 85.054, TimesCalled: 1},
			executed: 2,
			timings:  Timing{Count: 77, First: 12595, Curr: 12763, Min: 12595, Max: 12872, Avg: 12773.9, Std: 42}},
	}
	for _, tc := range tests {
		t.Run(tc.file[:2], func(t *testing.T) {
			r, err := Parse(bytes.NewReader(transcript(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			p := r.RunProfile
			if p == nil || r.InitProfile == nil {
				t.Fatalf("profiles: init %v run %v", r.InitProfile != nil, p != nil)
			}
			if len(p.RunOrder) <= tc.row || p.RunOrder[tc.row] != tc.wantRow {
				t.Fatalf("run order row %d: %+v\nwant %+v", tc.row, at(p.RunOrder, tc.row), tc.wantRow)
			}
			if len(p.TopByTime) == 0 || p.TopByTime[0] != tc.top {
				t.Errorf("top row: %+v\nwant %+v", at(p.TopByTime, 0), tc.top)
			}
			if len(p.ByType) == 0 || p.ByType[0] != tc.byType {
				t.Errorf("by type: %+v\nwant %+v", p.ByType, tc.byType)
			}
			if p.NodesExecuted != tc.executed || p.Timings == nil || *p.Timings != tc.timings {
				t.Errorf("nodes executed %d timings %+v, want %d %+v", p.NodesExecuted, p.Timings, tc.executed, tc.timings)
			}
			if tc.file == transcripts[4] && (r.TimedRuns() == nil || r.TimedRuns().Avg != 158715) {
				t.Errorf("fragment 05: timed runs %+v, want the profile's timings", r.TimedRuns())
			}
		})
	}
}

func at(rows []OpRow, i int) any {
	if i < len(rows) {
		return rows[i]
	}
	return "missing"
}

// TestParseLayouts: the same transcript with tabs expanded to spaces (copied
// from a terminal) and with CRLF line ends reads the same; the CSV written by
// --profiling_output_csv_file reads into the same tables.
func TestParseLayouts(t *testing.T) {
	raw := transcript(t, transcripts[0])
	want, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		text string
	}{
		{name: "spaces", text: expandTabs(string(raw))},
		{name: "crlf", text: strings.ReplaceAll(string(raw), "\n", "\r\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.RunProfile.RunOrder) != len(want.RunProfile.RunOrder) || len(got.RunProfile.ByType) != len(want.RunProfile.ByType) {
				t.Fatalf("rows %d/%d, want %d/%d", len(got.RunProfile.RunOrder), len(got.RunProfile.ByType),
					len(want.RunProfile.RunOrder), len(want.RunProfile.ByType))
			}
			for i, r := range want.RunProfile.RunOrder {
				if got.RunProfile.RunOrder[i] != r {
					t.Errorf("row %d: %+v, want %+v", i, got.RunProfile.RunOrder[i], r)
				}
			}
			if *got.Inference != *want.Inference {
				t.Errorf("inference %+v, want %+v", got.Inference, want.Inference)
			}
		})
	}
}

// expandTabs replaces tabs with spaces to the next 8-column stop, as a
// terminal shows them (transcript 02 was copied that way).
func expandTabs(s string) string {
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch r {
		case '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n':
			b.WriteRune(r)
			col = 0
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

// TestParseCSV reads a file in the layout of --profiling_output_csv_file
// (StatsCalculator with format_as_csv: ", " between cells, percentages keep
// their %, commas in node names written as tabs). The figures are transcript
// 02's rows, re-typed in that layout: no real CSV file is in the shared data.
func TestParseCSV(t *testing.T) {
	r, err := Parse(strings.NewReader(csvProfile))
	if err != nil {
		t.Fatal(err)
	}
	p := r.RunProfile
	want := OpRow{Type: "Convolution (NHWC, QC8) DWConv", FirstMs: 0.428, AvgMs: 0.051, Percent: 4.317, CDF: 8.304, TimesCalled: 13,
		Name: "Delegate/Convolution (NHWC, QC8) DWConv:1"}
	if p == nil || len(p.RunOrder) != 2 || p.RunOrder[1] != want {
		t.Fatalf("run order %+v, want second row %+v", p, want)
	}
	if len(p.ByType) != 1 || p.ByType[0].Count != 62 || p.ByType[0].TimesCalled != 101 || p.Timings.Avg != 15309.2 {
		t.Errorf("by type %+v timings %+v", p.ByType, p.Timings)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

// csvProfile is in the layout of --profiling_output_csv_file; see TestParseCSV.
const csvProfile = "Operator-wise Profiling Info for Regular Benchmark Runs:\n" +
	"============================== Run Order ==============================\n" +
	"node type, first, avg_ms, %, cdf%, mem KB, times called, name\n" +
	"QUANTIZE, 0.199, 0.203, 1.328%, 1.328%, 0, 1, [tfl.quantize]:0\n" +
	"Convolution (NHWC, QC8) DWConv, 0.428, 0.051, 4.317%, 8.304%, 0, 13, Delegate/Convolution (NHWC\t QC8) DWConv:1\n" +
	"\n" +
	"Number of nodes executed: 2\n" +
	"============================== Summary by node type ==============================\n" +
	"node type, count, avg_ms, avg %, cdf %, mem KB, times called\n" +
	"Convolution (NHWC, QC8) GEMM, 62, 5.236, 34.361%, 34.361%, 0, 101\n" +
	"\n" +
	"Timings (microseconds): count=64 first=15808 curr=14892 min=14470 max=17363 avg=15309.2 std=542\n"

// TestParseSubgraphs: a model with several subgraphs, and a delegate that
// reports its own operators, print their tables under their own headings
// (ProfileSummaryDefaultFormatter); they stay out of the primary graph's.
func TestParseSubgraphs(t *testing.T) {
	ruler := func(name string) string {
		return "============================== " + name + " ==============================\n"
	}
	head := "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]\n"
	row := func(typ, name string) string {
		return "\t" + typ + "\t0.100\t0.200\t50.000%\t100.000%\t0.000\t1\t" + name + "\n"
	}
	text := "Operator-wise Profiling Info for Regular Benchmark Runs:\nPrimary graph profile:\n" +
		ruler("Run Order") + head + row("WHILE", "[loop]:0") + "\n" +
		"Subgraph (index: 1) profile:\n" + ruler("Run Order") + head + row("ADD", "[body]:0") + row("LESS", "[cond]:1") + "\n" +
		"Delegate internal: \n" + ruler("Run Order") + head + row("Add (ND, QS8)", "Delegate/Add (ND, QS8):0") + "\n"
	r, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	p := r.RunProfile
	if p == nil || len(p.RunOrder) != 1 || len(p.Subgraphs) != 1 || len(p.Subgraphs[0].RunOrder) != 2 ||
		p.DelegateInternal == nil || len(p.DelegateInternal.RunOrder) != 1 || p.DelegateInternal.RunOrder[0].Type != "Add (ND, QS8)" {
		t.Fatalf("profile %+v", p)
	}
}

// TestParseFailures: failures the tool reports in ways other than transcript
// 07, and text that is not benchmark_model output at all.
func TestParseFailures(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		parseErr  string // Parse fails with this
		runErr    string // Parse succeeds, Err() contains this
		delegate  string
		warnings  int
		applyMode string
	}{
		{name: "not a transcript", text: "hello\nworld\n", parseErr: "no benchmark_model output"},
		{name: "bad number", text: "STARTING!\nRunning benchmark for at least 1 iterations\ncount=3 first=1x2\n", parseErr: "line 3"},
		{name: "nan", text: "STARTING!\ncount=3 first=1 min=nan\n", parseErr: "not a finite number"},
		{name: "cut short", text: "STARTING!\nGraph: [m.tflite]\n", runErr: "no inference timings"},
		{name: "pre-2.0 summary", text: "STARTING!\nRunning benchmark for at least 1 iterations\ncount=1 curr=900\n\n" +
			"Running benchmark for at least 5 iterations\ncount=5 first=800 curr=800 min=790 max=820 avg=801 std=9\n\n" +
			"Average inference timings in us: Warmup: 900, Init: 38467, no stats: 801\n"},
		{name: "old layout failure", text: "STARTING!\nFailed to apply GPU delegate.\nBenchmarking failed.\n",
			runErr: "GPU delegate: Failed to apply GPU delegate.", delegate: "GPU"},
		{name: "full delegation refused", text: "INFO: STARTING!\nERROR: Disallowed CPU fallback detected.\nERROR: Benchmarking failed.\n",
			runErr: "Disallowed CPU fallback detected."},
		{name: "unsupported delegate warns and runs on CPU",
			text: "STARTING!\nNNAPI acceleration is unsupported on this platform.\nThough NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.\n" +
				"Running benchmark for at least 1 iterations\ncount=2 curr=10(all same)\n\nRunning benchmark for at least 5 iterations\ncount=5 curr=10(all same)\n",
			warnings: 1, applyMode: ModeNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.text))
			if tc.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("Parse error %v, want %q", err, tc.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = r.Err()
			if tc.runErr == "" {
				if err != nil {
					t.Fatalf("Err() = %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.runErr) {
				t.Fatalf("Err() = %v, want %q", err, tc.runErr)
			}
			var re *RunError
			if tc.delegate != "" && (!errors.As(err, &re) || re.Delegate != tc.delegate) {
				t.Errorf("error %v does not name delegate %s", err, tc.delegate)
			}
			if len(r.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", r.Warnings, tc.warnings)
			}
			if tc.applyMode != "" {
				if len(r.Applications) != 1 || r.Applications[0].Mode != tc.applyMode {
					t.Errorf("applications %+v, want mode %s", r.Applications, tc.applyMode)
				}
				if r.Inference == nil || r.Inference.Median != 10 || r.Inference.Max != 10 {
					t.Errorf("all-same inference %+v", r.Inference)
				}
			}
		})
	}
}

// FuzzParse: no input makes Parse panic or hang, and whatever it accepts has
// finite, non-negative counts.
func FuzzParse(f *testing.F) {
	for _, name := range transcripts {
		f.Add(transcript(f, name))
	}
	f.Add([]byte("count=1 curr=5(all same)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		_ = r.Err()
		for _, tm := range []*Timing{r.Warmup, r.Inference, r.TimedRuns()} {
			if tm != nil && tm.Count < 0 {
				t.Fatalf("negative count %d", tm.Count)
			}
		}
	})
}
