package tflite

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"edgenas/internal/refdata"
)

// TestReadEveryRealModel reads every .tflite in the shared data, checks the
// operators of the files edgenas cannot run (SVDF, LSTM) and that whatever
// is not modelled is marked, not dropped.
func TestReadEveryRealModel(t *testing.T) {
	dir, err := refdata.Find()
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tflite files in %s (%v)", dir, err)
	}
	want := map[string]struct {
		ops       map[string]int
		variables int // tensors with is_variable
	}{
		"keyword_scrambled_8bit.tflite": {map[string]int{"SVDF": 7, "FULLY_CONNECTED": 5, "QUANTIZE": 2, "SOFTMAX": 1}, 7},
		"trained_lstm_int8.tflite":      {map[string]int{"UNIDIRECTIONAL_SEQUENCE_LSTM": 1, "FULLY_CONNECTED": 1, "RESHAPE": 1, "SOFTMAX": 1}, 2},
		"micro_speech_quantized.tflite": {map[string]int{"DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "RESHAPE": 1, "SOFTMAX": 1}, 0},
		"person_detect.tflite":          {map[string]int{"CONV_2D": 14, "DEPTHWISE_CONV_2D": 14, "AVERAGE_POOL_2D": 1, "RESHAPE": 1, "SOFTMAX": 1}, 0},
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Read(data)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			for i := range m.Operators {
				op := &m.Operators[i]
				counts[op.Name()]++
				if strings.HasPrefix(op.Op.String(), "BUILTIN_") {
					t.Errorf("operator %d has no schema name: %v", i, op.Op)
				}
				if !op.Op.Supported() && op.Undecoded == "" {
					t.Errorf("operator %d (%v) is not modelled but Undecoded is empty", i, op.Op)
				}
			}
			vars := 0
			for _, tt := range m.Tensors {
				if tt.Variable {
					vars++
				}
			}
			if name == "hello_world_int8.tflite" || name == "trained_lstm_int8.tflite" {
				if len(m.Signatures) != 1 || m.Signatures[0].Key != "serving_default" || len(m.Signatures[0].Outputs) != 1 {
					t.Errorf("signatures %+v, want serving_default with one output", m.Signatures)
				}
				if len(m.Metadata) == 0 || m.Metadata[0].Name != "min_runtime_version" || m.Metadata[0].Bytes == 0 {
					t.Errorf("metadata %+v, want min_runtime_version first", m.Metadata)
				}
			}
			w, ok := want[name]
			if !ok {
				return
			}
			if !reflect.DeepEqual(counts, w.ops) {
				t.Errorf("operators %v, want %v", counts, w.ops)
			}
			if vars != w.variables {
				t.Errorf("%d variable tensors, want %d", vars, w.variables)
			}
		})
	}
}

// TestReadSchemaFeatures reads files with what edgenas only inspects
// (variable tensors, several subgraphs, custom and unmodelled operators) and
// checks Write refuses them with an error naming the feature.
func TestReadSchemaFeatures(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		check     func(m *Model) bool
		writeErr  string
		wantNamed string
	}{
		{"variable tensor", craftModel(craftOptions{variable: true}),
			func(m *Model) bool { return m.Tensors[0].Variable }, "variable", "FULLY_CONNECTED"},
		{"two subgraphs", craftModel(craftOptions{subgraphs: 2}),
			func(m *Model) bool { return len(m.Subgraphs) == 1 && len(m.Subgraphs[0].Operators) == 1 }, "2 subgraphs", "FULLY_CONNECTED"},
		{"custom operator", craftFC(32, 32, true, true),
			func(m *Model) bool { return m.Operators[0].CustomCode == "MyOp" }, "custom operator \"MyOp\"", "CUSTOM(MyOp)"},
		{"unmodelled builtin", craftFC(27, 27, true, true),
			func(m *Model) bool { return strings.Contains(m.Operators[0].Undecoded, "SVDF") }, "SVDF is not modelled", "SVDF"},
		{"extended code", craftFC(127, 150, true, true),
			func(m *Model) bool { return m.Operators[0].Op == 150 }, "GELU", "GELU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Read(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(m) {
				t.Errorf("decoded model lacks the feature: %+v", m)
			}
			if got := m.Operators[0].Name(); got != tc.wantNamed {
				t.Errorf("operator name %q, want %q", got, tc.wantNamed)
			}
			if _, err := Write(m); err == nil || !strings.Contains(err.Error(), tc.writeErr) {
				t.Errorf("Write err %v, want it to contain %q", err, tc.writeErr)
			}
		})
	}
}

func TestOpcodeNames(t *testing.T) {
	tests := []struct {
		op   Opcode
		name string
	}{
		{OpAdd, "ADD"}, {OpCustom, "CUSTOM"}, {OpTransposeConv, "TRANSPOSE_CONV"}, {27, "SVDF"},
		{44, "UNIDIRECTIONAL_SEQUENCE_LSTM"}, {OpResizeNearestNeighbor, "RESIZE_NEAREST_NEIGHBOR"},
		{OpHardSwish, "HARD_SWISH"}, {202, "STABLEHLO_TRANSPOSE"}, {207, "COMPLEX"}, {5000, "BUILTIN_5000"},
	}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.name {
			t.Errorf("%d: %q, want %q", int32(tc.op), got, tc.name)
		}
		if op, ok := OpcodeByName(tc.name); ok && op != tc.op {
			t.Errorf("OpcodeByName(%q) = %d", tc.name, op)
		}
	}
}
