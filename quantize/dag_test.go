package quantize

import (
	"testing"

	"edgenas/space"
	"edgenas/tflite"
)

// TestDAGModelOperators checks the int8 DAG model has exactly the operators
// its layer list accounts for (the list latency tables sum over).
func TestDAGModelOperators(t *testing.T) {
	s, err := space.LookupDAG("autoshrink-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, arch string
	}{
		{name: "full", arch: "full"},
		{name: "one edge", arch: "0-1"},
		{name: "released-like", arch: "0-1,0-2,0-3,1-3,0-4,2-4"},
		{name: "random", arch: s.RandomDAGSeed(7).String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.ParseDAG(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			m, err := DAGModel(a, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			want := map[tflite.Opcode]int{}
			for _, l := range a.Layers() {
				switch l.Kind {
				case space.KindConv:
					want[tflite.OpConv2D]++
				case space.KindSepConv:
					want[tflite.OpDepthwiseConv2D]++
					want[tflite.OpConv2D]++
				case space.KindAdd:
					want[tflite.OpAdd]++
				case space.KindAvgPool2D:
					want[tflite.OpAveragePool2D]++
				case space.KindPool:
					want[tflite.OpMean]++
				case space.KindFC:
					want[tflite.OpFullyConnected]++
				}
			}
			got := map[tflite.Opcode]int{}
			for _, op := range m.Operators {
				got[op.Op]++
			}
			for op, n := range want {
				if got[op] != n {
					t.Errorf("%v: %d operators, want %d", op, got[op], n)
				}
			}
			if len(got) != len(want) {
				t.Errorf("operator kinds %v, want %v", got, want)
			}
			if m.Input(0).Type != tflite.Int8 {
				t.Errorf("input type %v, want int8", m.Input(0).Type)
			}
		})
	}
}

func TestDAGLayerModels(t *testing.T) {
	s, err := space.LookupDAG("autoshrink-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.UniqueKeys() {
		m, err := LayerModel(l, 1)
		if err != nil {
			t.Fatalf("%s: %v", l.Key(), err)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", l.Key(), err)
		}
	}
	bad := []space.Layer{
		{Kind: space.KindAvgPool2D, InH: 7, InW: 7, InC: 4, OutH: 4, OutW: 4, OutC: 4, Kernel: 2, Stride: 2},
		{Kind: space.KindSepConv, InH: 7, InW: 7, InC: 4, OutH: 7, OutW: 7, OutC: 4, Kernel: 3, Stride: 1, Act: "swish"},
		{Kind: space.KindAdd},
	}
	for _, l := range bad {
		if _, err := LayerModel(l, 1); err == nil {
			t.Errorf("%s: no error", l.Key())
		}
	}
}
