package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

// TestBenchImport: `bench --import F --json` prints a real transcript's
// figures and delegation; a failed run exits non-zero naming the delegate.
func TestBenchImport(t *testing.T) {
	tests := []struct {
		file       string
		code       int
		backend    string
		avg        float64
		count      int
		nodes      int
		total      int
		partitions int
		stderr     string
	}{
		{file: "03-nnapi-pixel6-edgetpu-partial-efficientnet-lite0-int8.txt", backend: "benchmark-model-nnapi",
			avg: 1389.89, count: 710, nodes: 62, total: 64, partitions: 3},
		{file: "06-android-pixel6-cpu-xnnpack-efficientdet-lite0-int8.txt", backend: "benchmark-model-xnnpack",
			avg: 9212.05, count: 109, nodes: 253, total: 266, partitions: 26},
		{file: "08-external-vx-delegate-opprof-imx8mp-ssd-mobilenet-quant.txt", backend: "benchmark-model-external-vx_delegate",
			avg: 12822.1, count: 77},
		{file: "07-nnapi-pixel6-failed-efficientdet-lite0-int8.txt", code: 1, stderr: "NNAPI delegate: NN API returned error ANEURALNETWORKS_OP_FAILED"},
	}
	for _, tc := range tests {
		t.Run(tc.file[:2], func(t *testing.T) {
			path := refdata.Path(t, filepath.Join("benchmark_model", tc.file))
			code, out, errOut := runCLI(t, "bench", "--import", path, "--json")
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errOut)
			}
			if tc.code != 0 {
				if !strings.Contains(errOut, tc.stderr) {
					t.Errorf("stderr %q, want %q", errOut, tc.stderr)
				}
				return
			}
			var got struct {
				Backend  string `json:"backend"`
				Delegate struct {
					Nodes      int `json:"nodes"`
					TotalNodes int `json:"total_nodes"`
					Partitions int `json:"partitions"`
				} `json:"delegate"`
				Inference struct {
					Count int     `json:"count"`
					Mean  float64 `json:"mean_us"`
				} `json:"inference"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got.Backend != tc.backend || got.Inference.Mean != tc.avg || got.Inference.Count != tc.count ||
				got.Delegate.Nodes != tc.nodes || got.Delegate.TotalNodes != tc.total || got.Delegate.Partitions != tc.partitions {
				t.Errorf("got %+v, want %s avg %g count %d delegate %d/%d in %d", got, tc.backend, tc.avg, tc.count, tc.nodes, tc.total, tc.partitions)
			}
		})
	}
	if code, _, errOut := runCLI(t, "bench", "--import", "x.log", "model.tflite"); code != 2 || !strings.Contains(errOut, "no model argument") {
		t.Errorf("--import with a model: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
