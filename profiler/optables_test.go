package profiler_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"edgenas/profiler"
	"edgenas/runtime"
	"edgenas/tflite"
)

// TestOpProfileTables checks the arithmetic and layout of the op tables on
// a hand-made profile: three nodes over two runs of 500 us each.
func TestOpProfileTables(t *testing.T) {
	m := &tflite.Model{
		Tensors: []tflite.Tensor{{Name: "x"}, {Name: "conv1"}, {Name: "conv2"}, {Name: "out, 1"}},
		Operators: []tflite.Operator{{Op: tflite.OpConv2D, Inputs: []int{0}, Outputs: []int{1}},
			{Op: tflite.OpConv2D, Inputs: []int{1}, Outputs: []int{2}}, {Op: tflite.OpAdd, Inputs: []int{1, 2}, Outputs: []int{3}}},
	}
	node := func(name string, op int, avgUs float64) profiler.NodeStat {
		return profiler.NodeStat{NodeProfile: runtime.NodeProfile{Name: name, Backend: "xnnpack", Ops: []int{op}, Count: 2,
			Total: time.Duration(2 * avgUs * float64(time.Microsecond))}, FirstMicros: avgUs + 10, AvgMicros: avgUs}
	}
	res := profiler.BenchResult{Inference: profiler.SummarizeMicros([]float64{400, 600}), RunsMicros: []float64{400, 600},
		Nodes: []profiler.NodeStat{node("CONV_2D", 0, 100), node("CONV_2D", 1, 300), node("ADD", 2, 50)}}
	p := profiler.NewOpProfile(m, res)
	if p.SumMicros() != 450 {
		t.Errorf("sum of operators %g us, want 450", p.SumMicros())
	}
	var tables, csv bytes.Buffer
	if err := p.WriteTables(&tables); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		out  *bytes.Buffer
		want []string
	}{
		{name: "tables", out: &tables, want: []string{
			// Run Order: % of the 500 us run, cdf accumulates in run order.
			"\t                                 CONV_2D\t    0.110\t    0.100\t 20.000%\t 20.000%\t     0.000\t        1\t[conv1]:0\n",
			"\t                                     ADD\t    0.060\t    0.050\t 10.000%\t 90.000%\t     0.000\t        1\t[out, 1]:2\n",
			// Top by Computation Time: slowest first, cdf in that order.
			"== Top by Computation Time ==",
			"\t                                 CONV_2D\t    0.310\t    0.300\t 60.000%\t 60.000%\t     0.000\t        1\t[conv2]:1\n",
			// Summary by node type: % of the operators' sum (450 us).
			"Number of nodes executed: 3\n",
			"\t                                 CONV_2D\t        2\t     0.400\t    88.889%\t    88.889%\t     0.000\t        2\n",
			"\t                                     ADD\t        1\t     0.050\t    11.111%\t   100.000%\t     0.000\t        1\n",
			"Timings (microseconds): count=2 first=400 curr=600 min=400 max=600 avg=500 std=100\nMemory (bytes): count=0\n3 nodes observed\n",
		}},
		{name: "csv", out: &csv, want: []string{
			"Operator-wise Profiling Info for Regular Benchmark Runs:\n============================== Run Order ==============================\nnode type, first, avg_ms, %, cdf%, mem KB, times called, name\n",
			"CONV_2D, 0.11, 0.1, 20%, 20%, 0, 1, [conv1]:0\n",
			// Commas inside names become tabs, as benchmark_model writes them.
			"ADD, 0.06, 0.05, 10%, 90%, 0, 1, [out\t 1]:2\n",
			"node type, count, avg_ms, avg %, cdf %, mem KB, times called\nCONV_2D, 2, 0.4, 88.8889%, 88.8889%, 0, 2\nADD, 1, 0.05, 11.1111%, 100%, 0, 1\n",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !strings.Contains(tc.out.String(), w) {
					t.Errorf("lacks %q in:\n%s", w, tc.out.String())
				}
			}
		})
	}
	line := profiler.InferenceTimings(32163.4, profiler.BenchResult{FirstMicros: 19834, Warmup: profiler.Stats{Mean: 15997.4},
		Inference: profiler.Stats{Mean: 8.45428e+06}})
	if line != "Inference timings in us: Init: 32163, First inference: 19834, Warmup (avg): 15997.4, Inference (avg): 8.45428e+06" {
		t.Errorf("timings line %q", line)
	}
}
