package litert_test

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/litert"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/runtime/xnnpack"
	"edgenas/tflite"
)

// opRule is what the op-level conformance test expects of one operator.
type opRule struct {
	// liteRTXNNPACK: LiteRT's XNNPACK delegate takes the operator (LiteRT
	// reports the graph fully accelerated); otherwise LiteRT runs TFLite's
	// builtin int8 kernel.
	liteRTXNNPACK bool
	// refQuanta is how far ref (TFLite's reference kernels) may be from
	// LiteRT where LiteRT runs the operator on XNNPACK; where LiteRT runs
	// its builtin kernel ref must match it exactly.
	refQuanta int
	// why says where refQuanta comes from.
	why string
}

// Rounding differences between TFLite's reference kernels (ref) and the
// XNNPACK kernels LiteRT delegates to.
const (
	doubleRounding = "TFLite's reference requantizes with two roundings (MultiplyByQuantizedMultiplier), XNNPACK with one fp32 or single-rounding multiplier"
	meanRounding   = "TFLite's reference MEAN rounds the requantized sum, then the division by the count; XNNPACK scales the sum once in fp32"
	bilinearGrid   = "TFLite's reference positions samples in 10-bit fixed point, XNNPACK in 11-bit: on steep inputs up to 2 quanta"
	moves          = "moves or selects values, no arithmetic"
)

// opRules holds, per operator of runtimetest.OpCases, LiteRT's placement
// and ref's allowed distance from it. edgenas's xnnpack backend must equal
// LiteRT byte for byte on every case: on XNNPACK; on ref where LiteRT runs
// the builtin kernel or the operator only moves values; on the delegate's
// arithmetic (int8 MEAN, per-channel TRANSPOSE_CONV) where this XNNPACK
// cannot compute it.
var opRules = map[tflite.Opcode]opRule{
	tflite.OpAveragePool2D:         {why: "LiteRT's delegate takes no int8 AVERAGE_POOL_2D: builtin kernel"},
	tflite.OpMaxPool2D:             {liteRTXNNPACK: true, why: moves},
	tflite.OpSoftmax:               {why: "LiteRT's delegate takes no int8 SOFTMAX: builtin kernel"},
	tflite.OpHardSwish:             {why: "LiteRT's delegate takes no int8 HARD_SWISH: builtin kernel"},
	tflite.OpLogistic:              {liteRTXNNPACK: true, why: "both build a 256-entry table from the float sigmoid"},
	tflite.OpReshape:               {liteRTXNNPACK: true, why: moves},
	tflite.OpSqueeze:               {why: "LiteRT's delegate takes no SQUEEZE: builtin kernel (a copy)"},
	tflite.OpConcatenation:         {liteRTXNNPACK: true, why: moves},
	tflite.OpPad:                   {liteRTXNNPACK: true, why: moves},
	tflite.OpResizeBilinear:        {liteRTXNNPACK: true, refQuanta: 2, why: bilinearGrid},
	tflite.OpResizeNearestNeighbor: {why: "LiteRT's delegate takes no int8 RESIZE_NEAREST_NEIGHBOR: builtin kernel"},
	tflite.OpQuantize:              {liteRTXNNPACK: true, why: "both round x/scale to nearest even in fp32"},
	tflite.OpDequantize:            {liteRTXNNPACK: true, why: "(q-zero point)*scale in fp32"},
	tflite.OpStridedSlice:          {why: "LiteRT's delegate takes no STRIDED_SLICE with these masks: builtin kernel"},
	tflite.OpTranspose:             {liteRTXNNPACK: true, why: moves},
	tflite.OpMul:                   {liteRTXNNPACK: true, refQuanta: 1, why: doubleRounding},
	tflite.OpSub:                   {liteRTXNNPACK: true, refQuanta: 1, why: doubleRounding},
	tflite.OpMean:                  {liteRTXNNPACK: true, refQuanta: 1, why: meanRounding},
	tflite.OpMaximum:               {why: "LiteRT's delegate takes no int8 MAXIMUM: builtin kernel"},
	tflite.OpMinimum:               {why: "LiteRT's delegate takes no int8 MINIMUM: builtin kernel"},
	tflite.OpTransposeConv:         {liteRTXNNPACK: true, refQuanta: 1, why: doubleRounding},
}

// opConformanceSeeds are the OpCases seeds run: three cases per operator
// and seed, three input sets per case.
var opConformanceSeeds = []uint64{1, 2, 3}

// opStats collects one operator's results for the summary.
type opStats struct {
	cases                 int
	edgenasOn             map[string]bool
	worstXNNPACK, worstRf int
}

// TestOpConformance runs every operator case of runtimetest.OpCases (seeded
// random shapes, parameters and quantization) on LiteRT, in one node
// process, and on edgenas's xnnpack and ref backends: xnnpack is bit-exact
// with LiteRT on every case, wherever it runs the operator; ref matches
// LiteRT exactly where LiteRT runs TFLite's builtin kernel and within
// opRules' refQuanta where LiteRT delegates to XNNPACK.
func TestOpConformance(t *testing.T) {
	r := litert.ForTest(t)
	requireXNNPACK(t)
	var cases []runtimetest.OpCase
	for _, seed := range opConformanceSeeds {
		for _, c := range runtimetest.OpCases(seed) {
			c.Name = fmt.Sprintf("seed %d %s", seed, c.Name)
			cases = append(cases, c)
		}
	}
	ms := make([]*tflite.Model, len(cases))
	for i, c := range cases {
		ms[i] = c.Model
	}
	jobs, results := runBatch(t, r, ms, 3)
	stats := map[tflite.Opcode]*opStats{}
	for i, c := range cases {
		rule, ok := opRules[c.Op]
		if !ok {
			t.Fatalf("%s: no conformance rule for %v", c.Name, c.Op)
		}
		st := stats[c.Op]
		if st == nil {
			st = &opStats{edgenasOn: map[string]bool{}}
			stats[c.Op] = st
		}
		st.cases++
		res := results[i]
		if res.Err != nil {
			t.Errorf("%s: LiteRT: %v", c.Name, res.Err)
			continue
		}
		if res.FullyAccelerated != rule.liteRTXNNPACK {
			t.Errorf("%s: LiteRT's XNNPACK delegate took the operator: %v, expected %v", c.Name, res.FullyAccelerated, rule.liteRTXNNPACK)
		}
		plan, err := xnnpack.Backend{}.Plan(c.Model)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		on := plan[0].Backend
		st.edgenasOn[on] = true
		refAllowed := 0
		if rule.liteRTXNNPACK {
			refAllowed = rule.refQuanta
		}
		xnn := runOn(t, xnnpack.Backend{}, c.Model, jobs[i].Inputs)
		rf := runOn(t, ref.Backend{}, c.Model, jobs[i].Inputs)
		for k := range jobs[i].Inputs {
			want := res.Outputs[k][0]
			dx, err := quantaApart(c.Model, xnn[k][0], want)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			dr, _ := quantaApart(c.Model, rf[k][0], want)
			st.worstXNNPACK, st.worstRf = max(st.worstXNNPACK, dx), max(st.worstRf, dr)
			if dx != 0 {
				t.Errorf("%s input set %d: edgenas xnnpack (operator on %s) is %d quanta from LiteRT, want bit-exact", c.Name, k, on, dx)
			}
			if dr > refAllowed {
				t.Errorf("%s input set %d: edgenas ref is %d quanta from LiteRT, allowed %d (%s)", c.Name, k, dr, refAllowed, rule.why)
			}
		}
	}
	logOpTable(t, stats)
}

// quantaApart is the largest difference of two int8 outputs in quanta;
// float outputs (DEQUANTIZE) must be equal bit for bit (0, else 1<<20).
func quantaApart(m *tflite.Model, a, b []byte) (int, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("outputs of %d and %d bytes", len(a), len(b))
	}
	if m.Tensors[m.Outputs[0]].Type != tflite.Int8 {
		if bytes.Equal(a, b) {
			return 0, nil
		}
		return 1 << 20, nil
	}
	d := 0
	for i := range a {
		d = max(d, abs(int(int8(a[i]))-int(int8(b[i]))))
	}
	return d, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// logOpTable logs one row per operator: where LiteRT and edgenas's
// xnnpack backend run it and the largest distances from LiteRT (the table
// of runtime/backends/AGREEMENT.md).
func logOpTable(t *testing.T, stats map[tflite.Opcode]*opStats) {
	var rows []string
	for op, st := range stats {
		lite := "builtin"
		if opRules[op].liteRTXNNPACK {
			lite = "XNNPACK"
		}
		var on []string
		for b := range st.edgenasOn {
			on = append(on, b)
		}
		sort.Strings(on)
		rows = append(rows, fmt.Sprintf("| %v | %d | %s | %s | %d | %d |", op, st.cases, lite, strings.Join(on, ", "), st.worstXNNPACK, st.worstRf))
	}
	sort.Strings(rows)
	t.Logf("\n| operator | cases | LiteRT runs it on | edgenas xnnpack runs it on | xnnpack vs LiteRT | ref vs LiteRT |\n|---|---|---|---|---|---|\n%s",
		strings.Join(rows, "\n"))
}

// runOn runs m on backend bk once per input set.
func runOn(t *testing.T, bk runtime.Backend, m *tflite.Model, sets [][][]byte) [][][]byte {
	t.Helper()
	ip, err := bk.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatalf("%s load: %v", bk.Name(), err)
	}
	defer ip.Close()
	var out [][][]byte
	for _, set := range sets {
		got, err := runtimetest.Run(ip, set)
		if err != nil {
			t.Fatalf("%s: %v", bk.Name(), err)
		}
		out = append(out, got)
	}
	return out
}
