package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"edgenas/lut"
	"edgenas/runtime/xnnpack"
	"edgenas/tflite"
)

// genFmnistModel writes a random spnas-fmnist architecture with SE blocks.
func genFmnistModel(t *testing.T) (string, *tflite.Model) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.tflite")
	if code, _, errs := runCLI(t, "model", "gen", "--space", "spnas-fmnist", "--arch", "random", "--seed", "3", "-o", path); code != 0 {
		t.Fatalf("model gen: %s", errs)
	}
	m, err := tflite.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, m
}

// quick are run-count flags that keep a bench to a fraction of a second.
var quick = []string{"--warmup-min-secs", "-1", "--min-secs", "0.01"}

// TestBenchPerOp runs `bench --per-op` on xnnpack through the CLI: every
// operator of the model gets a row with its own time in benchmark_model's
// tables, their sum is printed next to the whole-graph time, and the CSV
// file has benchmark_model's layout with the same rows.
func TestBenchPerOp(t *testing.T) {
	if !xnnpack.Available() {
		t.Skip("XNNPACK not available in this build")
	}
	path, m := genFmnistModel(t)
	csv := filepath.Join(t.TempDir(), "ops.csv")
	args := append([]string{"bench", "--backend", "xnnpack", "--runs", "5", "--per-op", "--profiling-output-csv", csv}, quick...)
	code, out, errs := runCLI(t, append(args, path)...)
	if code != 0 {
		t.Fatalf("bench --per-op: exit %d: %s", code, errs)
	}
	if !regexp.MustCompile(`(?m)^Inference timings in us: Init: \d+, First inference: \d+, Warmup \(avg\): [\d.e+]+, Inference \(avg\): [\d.e+]+$`).MatchString(out) {
		t.Errorf("no benchmark_model timings line in:\n%s", out)
	}
	for _, want := range []string{"Operator-wise Profiling Info for Regular Benchmark Runs:", "== Run Order ==", "== Top by Computation Time ==",
		"== Summary by node type ==", fmt.Sprintf("Number of nodes executed: %d", len(m.Operators)), "[node type]\t  [first]\t [avg ms]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Run Order: one row per operator, in order, named like TFLite names nodes.
	runOrder := strings.Split(strings.Split(out, "== Top by Computation Time ==")[0], "== Run Order ==")[1]
	row := regexp.MustCompile(`(?m)^\t +([A-Z_0-9]+)\t +([\d.]+)\t +([\d.]+)\t +[\d.]+%\t +[\d.]+%\t +0\.000\t +1\t\[(.*)\]:(\d+)$`)
	rows := row.FindAllStringSubmatch(runOrder, -1)
	if len(rows) != len(m.Operators) {
		t.Fatalf("Run Order has %d operator rows, the model has %d operators:\n%s", len(rows), len(m.Operators), runOrder)
	}
	var sum float64
	for i, r := range rows {
		if r[1] != m.Operators[i].Op.String() || r[5] != strconv.Itoa(i) || r[4] != m.Tensors[m.Operators[i].Outputs[0]].Name {
			t.Errorf("row %d = %q, want operator %d %v writing %q", i, r[0], i, m.Operators[i].Op, m.Tensors[m.Operators[i].Outputs[0]].Name)
		}
		avg, _ := strconv.ParseFloat(r[3], 64)
		sum += avg * 1000
	}
	sumLine := regexp.MustCompile(`Sum of (\d+) operators \(each its own node\): ([\d.]+) us; whole graph \(avg\): ([\d.]+) us; sum/whole ([\d.]+)`).FindStringSubmatch(out)
	if sumLine == nil || sumLine[1] != strconv.Itoa(len(m.Operators)) {
		t.Fatalf("no sum-of-operators line for %d operators in:\n%s", len(m.Operators), out)
	}
	if !strings.Contains(out, fmt.Sprintf("Operators run by XNNPACK: %d, by the reference kernels (XNNPACK refused them): 0", len(m.Operators))) {
		t.Errorf("no count of operators by backend (all %d on XNNPACK) in:\n%s", len(m.Operators), out)
	}
	total, _ := strconv.ParseFloat(sumLine[2], 64)
	whole, _ := strconv.ParseFloat(sumLine[3], 64)
	if total <= 0 || whole <= 0 {
		t.Fatalf("sum of operators %g us, whole graph %g us", total, whole)
	}
	// The rows are printed to the microsecond: their sum matches the reported one to rounding.
	if d := sum - total; d > 0.5*float64(len(rows)) || d < -0.5*float64(len(rows)) {
		t.Errorf("rows sum to %.1f us, the sum line says %.1f us", sum, total)
	}

	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatalf("CSV not written: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	if lines[0] != "Operator-wise Profiling Info for Regular Benchmark Runs:" || !strings.Contains(lines[1], "== Run Order ==") ||
		lines[2] != "node type, first, avg_ms, %, cdf%, mem KB, times called, name" {
		t.Fatalf("CSV header:\n%s", strings.Join(lines[:3], "\n"))
	}
	csvRow := regexp.MustCompile(`^([A-Z_0-9]+), [\d.e+-]+, [\d.e+-]+, [\d.e+-]+%, [\d.e+-]+%, 0, 1, \[.*\]:(\d+)$`)
	for i := range m.Operators {
		r := csvRow.FindStringSubmatch(lines[3+i])
		if r == nil || r[1] != m.Operators[i].Op.String() || r[2] != strconv.Itoa(i) {
			t.Fatalf("CSV Run Order row %d: %q", i, lines[3+i])
		}
	}
	if !strings.Contains(string(b), "node type, count, avg_ms, avg %, cdf %, mem KB, times called\n") {
		t.Error("CSV lacks the summary by node type")
	}
}

// TestBenchAliasesAndJSON drives bench with benchmark_model's flag names and
// checks the JSON carries the per-operator result.
func TestBenchAliasesAndJSON(t *testing.T) {
	if !xnnpack.Available() {
		t.Skip("XNNPACK not available in this build")
	}
	path, m := genFmnistModel(t)
	csv := filepath.Join(t.TempDir(), "ops.csv")
	code, out, errs := runCLI(t, "bench", "--graph="+path, "--num_runs=4", "--warmup_runs=2", "--num_threads=2", "--warmup_min_secs=-1",
		"--min_secs=0.01", "--max_secs=10", "--enable_op_profiling=true", "--profiling_output_csv_file="+csv, "--json")
	if code != 0 {
		t.Fatalf("bench with benchmark_model flags: exit %d: %s", code, errs)
	}
	var res struct {
		Threads   int
		Warmup    struct{ Count int }
		Inference struct{ Count int }
		PerOp     struct {
			Profile struct {
				Nodes []struct {
					NodeType string  `json:"node_type"`
					AvgMs    float64 `json:"avg_ms"`
				}
			}
			Sum   float64 `json:"sum_us"`
			Whole float64 `json:"whole_graph_us"`
		} `json:"per_op"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Threads != 2 || res.Warmup.Count < 2 || res.Inference.Count < 4 {
		t.Errorf("aliases not applied: threads %d, %d warm-up, %d runs", res.Threads, res.Warmup.Count, res.Inference.Count)
	}
	if len(res.PerOp.Profile.Nodes) != len(m.Operators) || res.PerOp.Sum <= 0 || res.PerOp.Whole <= 0 {
		t.Errorf("per_op: %d nodes for %d operators, sum %g, whole %g", len(res.PerOp.Profile.Nodes), len(m.Operators), res.PerOp.Sum, res.PerOp.Whole)
	}
	if _, err := os.Stat(csv); err != nil {
		t.Errorf("--profiling_output_csv_file: %v", err)
	}
}

// TestBenchCPUs pins bench to one CPU and checks the conditions it reports,
// and that bad CPU lists are refused with the reason.
func TestBenchCPUs(t *testing.T) {
	path, _ := genFmnistModel(t)
	tests := []struct {
		name    string
		cpus    string
		wantErr string
	}{
		{name: "pinned to CPU 0", cpus: "0"},
		{name: "syntax", cpus: "0-", wantErr: "not a CPU number"},
		{name: "backwards", cpus: "1-0", wantErr: "runs backwards"},
		{name: "beyond the bound", cpus: "5000", wantErr: "out of range [0,1024)"},
		{name: "absent CPU", cpus: "1023", wantErr: "CPU 1023 does not exist or is offline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append([]string{"bench", "--backend", "ref", "--runs", "2", "--cpus", tc.cpus, "--json"}, append(quick, path)...)...)
			if tc.wantErr != "" {
				if code != 2 || !strings.Contains(errs, tc.wantErr) {
					t.Fatalf("--cpus %s: exit %d, stderr %q; want 2 and %q", tc.cpus, code, errs, tc.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var res struct {
				CPUs       []int `json:"cpus"`
				Conditions struct {
					Pinned   []int `json:"pinned_cpus"`
					Affinity []int `json:"affinity"`
				}
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(res.CPUs, res.Conditions.Pinned, res.Conditions.Affinity) != "[0] [0] [0]" {
				t.Fatalf("cpus %v, conditions pinned %v, measuring thread's affinity %v; want [0] everywhere", res.CPUs, res.Conditions.Pinned, res.Conditions.Affinity)
			}
		})
	}
}

// TestProfileCPUs profiles the fmnist space pinned to CPU 0 through the
// CLI: every entry's conditions and the device description record the
// pinning, and the measuring thread really had only CPU 0.
func TestProfileCPUs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real microbenchmarks")
	}
	db := filepath.Join(t.TempDir(), "pin.db")
	code, _, errs := runCLI(t, "profile", "--space", "spnas-fmnist", "--backend", "ref", "--cpus", "0", "--out", db, "--device", "pin0",
		"--rel-tol", "0.5", "--min-secs", "0", "--max-secs", "0.005", "--sample-us", "0", "--json")
	if code != 0 {
		t.Fatalf("profile --cpus 0: exit %d: %s", code, errs)
	}
	st, err := lut.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := st.Entries(lut.Filter{Device: "pin0"})
	if err != nil || len(es) == 0 {
		t.Fatalf("entries: %d, %v", len(es), err)
	}
	for _, e := range es {
		if fmt.Sprint(e.Conditions.PinnedCPUs, e.Conditions.Affinity) != "[0] [0]" {
			t.Fatalf("entry %s: pinned %v, affinity %v; want [0] [0]", e.Key, e.Conditions.PinnedCPUs, e.Conditions.Affinity)
		}
	}
	devs, err := st.Devices("")
	if err != nil || len(devs) != 1 || !strings.Contains(string(devs[0].Description), `"pinned_cpus":[0]`) {
		t.Fatalf("device description %v, %v: want pinned_cpus [0]", devs, err)
	}
	if code, _, errs := runCLI(t, "profile", "--space", "spnas-fmnist", "--cpus", "0-x", "--out", db); code != 2 || !strings.Contains(errs, `--cpus "0-x"`) {
		t.Errorf("bad --cpus: exit %d, %q", code, errs)
	}
}

// TestAgentCPUsRefused: the agent refuses a CPU list naming absent CPUs
// before it connects anywhere.
func TestAgentCPUsRefused(t *testing.T) {
	code, _, errs := runCLI(t, "agent", "--broker", "tcp://127.0.0.1:1", "--id", "a1", "--data-dir", t.TempDir(), "--cpus", "0,1023")
	if code != 2 || !strings.Contains(errs, "CPU 1023 does not exist or is offline") {
		t.Fatalf("agent --cpus 0,1023: exit %d, %q", code, errs)
	}
}
