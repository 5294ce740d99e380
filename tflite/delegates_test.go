package tflite_test

import (
	"bytes"
	"strings"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// refused maps delegate -> operator name -> the reason of its first refusal.
func refused(reports []tflite.DelegateReport) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range reports {
		out[r.Delegate] = map[string]string{}
		for _, o := range r.Ops {
			if _, seen := out[r.Delegate][o.Op]; !o.Taken && !seen {
				out[r.Delegate][o.Op] = o.Reason
			}
		}
	}
	return out
}

// delegateCase is one model of TestCheckDelegates and what each delegate
// should make of it.
type delegateCase struct {
	name  string
	model func(t *testing.T) *tflite.Model
	api   int
	// taken is the operators each delegate takes, in XNNPACK, NNAPI, GPU,
	// Hexagon order (all zero: not checked); refuse lists operator ->
	// reason fragment per delegate, and no other operator may be refused.
	taken  [4]int
	refuse map[string]map[string]string
}

// delegateCases are person_detect, the shared-data MobileNetV2 and models
// edgenas writes.
func delegateCases() []delegateCase {
	read := func(name string) func(t *testing.T) *tflite.Model {
		return func(t *testing.T) *tflite.Model {
			m, err := tflite.ReadFile(refdata.Path(t, name))
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	fm := space.MustLookup("spnas-fmnist")
	seChoice, _ := space.ParseChoice("k5e6+se")
	gen := func(a space.Arch, opts quantize.GenOptions) func(t *testing.T) *tflite.Model {
		return func(t *testing.T) *tflite.Model {
			m, err := quantize.Generate(a.Layers(), 4, opts)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	return []delegateCase{
		{name: "person_detect", model: read("person_detect.tflite"), taken: [4]int{29, 31, 31, 31},
			refuse: map[string]map[string]string{tflite.DelegateXNNPACK: {
				"AVERAGE_POOL_2D": "float only", "SOFTMAX": "float only"}}},
		{name: "MobileNetV2", model: read("mobilenet_v2_quantized_1x3x224x224.tflite"), taken: [4]int{84, 84, 84, 84}},
		{name: "MobileNetV2 at API 28", model: read("mobilenet_v2_quantized_1x3x224x224.tflite"), api: 28,
			taken: [4]int{84, 11, 84, 84},
			refuse: map[string]map[string]string{tflite.DelegateNNAPI: {
				"CONV_2D": "needs Android API 29", "DEPTHWISE_CONV_2D": "needs Android API 29",
				"FULLY_CONNECTED": "needs Android API 29", "MEAN": "needs Android API 29",
				"PAD": "needs Android API 29", "TRANSPOSE": "needs Android API 29"}}},
		{name: "generated all +se", model: gen(fm.Uniform(seChoice), quantize.GenOptions{}), taken: [4]int{113, 113, 113, 113}},
		{name: "generated random, softmax, float I/O", model: gen(fm.RandomSeed(6), quantize.GenOptions{Softmax: true, Quant: quantize.Options{FloatIO: true}}),
			refuse: map[string]map[string]string{
				tflite.DelegateXNNPACK: {"SOFTMAX": "float only"},
				tflite.DelegateHexagon: {"QUANTIZE": "input 0 is float32", "DEQUANTIZE": "not supported"}}},
		{name: "classifier alone, float I/O", model: fcAlone, taken: [4]int{3, 3, 3, 0},
			refuse: map[string]map[string]string{tflite.DelegateHexagon: {"QUANTIZE": "input 0 is float32",
				"FULLY_CONNECTED": "partition of 1 node(s); the Hexagon delegate needs at least 2", "DEQUANTIZE": "not supported"}}},
	}
}

// TestCheckDelegates runs the delegate check on real models and on models
// edgenas writes, and checks every delegate's count and refusals.
func TestCheckDelegates(t *testing.T) {
	for _, tc := range delegateCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			reports := tflite.CheckDelegates(m, tflite.DelegateOptions{AndroidAPI: tc.api})
			if len(reports) != 4 {
				t.Fatalf("%d reports, want 4", len(reports))
			}
			got := refused(reports)
			for i, r := range reports {
				if r.Operators != len(m.Operators) || len(r.Ops) != len(m.Operators) || r.Source == "" {
					t.Errorf("%s: %d operators, %d verdicts, source %q", r.Delegate, r.Operators, len(r.Ops), r.Source)
				}
				if tc.taken != [4]int{} && r.Taken != tc.taken[i] {
					t.Errorf("%s takes %d operators, want %d (refused: %v)", r.Delegate, r.Taken, tc.taken[i], got[r.Delegate])
				}
				if r.Taken > 0 && r.Partitions == 0 {
					t.Errorf("%s takes %d operators in no partition", r.Delegate, r.Taken)
				}
				want := tc.refuse[r.Delegate]
				for op, frag := range want {
					if !strings.Contains(got[r.Delegate][op], frag) {
						t.Errorf("%s refuses %s with %q, want a reason containing %q", r.Delegate, op, got[r.Delegate][op], frag)
					}
				}
				for op, reason := range got[r.Delegate] {
					if _, ok := want[op]; !ok {
						t.Errorf("%s refuses %s unexpectedly: %s", r.Delegate, op, reason)
					}
				}
			}
			var buf bytes.Buffer
			if err := tflite.WriteDelegatesText(&buf, reports); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"XNNPACK: takes", "NNAPI: takes", "GPU: takes", "Hexagon: takes"} {
				if !strings.Contains(buf.String(), d) {
					t.Errorf("text report lacks %q:\n%s", d, buf.String())
				}
			}
		})
	}
}

// TestCheckDelegatesLegacySE builds the SE encoding edgenas used to write
// (FULLY_CONNECTED keep_num_dims on [1,1,1,C]) and checks the delegates that
// refuse it say why.
func TestCheckDelegatesLegacySE(t *testing.T) {
	seChoice, _ := space.ParseChoice("k3e3+se")
	m, err := quantize.Generate(space.MustLookup("spnas-fmnist").Uniform(seChoice).Layers()[:3], 1, quantize.GenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite each SE CONV_2D pair as the legacy FULLY_CONNECTED keep_num_dims.
	legacy := 0
	for i := range m.Operators {
		op := &m.Operators[i]
		if op.Op != tflite.OpConv2D || m.Tensors[op.Outputs[0]].Shape[1] != 1 {
			continue
		}
		w := &m.Tensors[op.Inputs[1]]
		w.Shape = []int32{w.Shape[0], w.Shape[3]}
		w.Quant.Scale, w.Quant.ZeroPoint, w.Quant.Axis = w.Quant.Scale[:1], w.Quant.ZeroPoint[:1], 0
		act := op.Options.(*tflite.Conv2DOptions).Activation
		op.Op, op.Version, op.Options = tflite.OpFullyConnected, 5, &tflite.FullyConnectedOptions{Activation: act, KeepNumDims: true}
		legacy++
	}
	if legacy == 0 {
		t.Fatal("no SE convolution to rewrite")
	}
	reports := tflite.CheckDelegates(m, tflite.DelegateOptions{AndroidAPI: 29})
	got := refused(reports)
	if r := got[tflite.DelegateHexagon]["FULLY_CONNECTED"]; !strings.Contains(r, "keep_num_dims") {
		t.Errorf("Hexagon refuses FULLY_CONNECTED keep_num_dims with %q", r)
	}
	if r := got[tflite.DelegateNNAPI]["FULLY_CONNECTED"]; !strings.Contains(r, "keep_num_dims needs Android API 30") {
		t.Errorf("NNAPI at API 29 refuses FULLY_CONNECTED keep_num_dims with %q", r)
	}
	if r := got[tflite.DelegateXNNPACK]["FULLY_CONNECTED"]; r != "" {
		t.Errorf("XNNPACK refuses FULLY_CONNECTED keep_num_dims: %s", r)
	}
}

// fcAlone is a classifier layer with float input and output: QUANTIZE,
// FULLY_CONNECTED, DEQUANTIZE.
func fcAlone(t *testing.T) *tflite.Model {
	fc := space.Layer{Kind: space.KindFC, InH: 1, InW: 1, InC: 16, OutH: 1, OutW: 1, OutC: 10, Slot: -1}
	m, err := quantize.Generate([]space.Layer{fc}, 2, quantize.GenOptions{Quant: quantize.Options{FloatIO: true}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
