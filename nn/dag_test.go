package nn

import (
	"math/rand/v2"
	"testing"

	"edgenas/quantize"
	"edgenas/space"
)

func dagArch(t *testing.T, arch string) space.DAGArch {
	t.Helper()
	s, err := space.LookupDAG("autoshrink-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.ParseDAG(arch)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDAGGradients(t *testing.T) {
	tests := []struct {
		name  string
		layer func(t *testing.T, r *rand.Rand) Layer
		c     int
	}{
		// Sigmoid keeps the composite smooth: the wiring is under test.
		{name: "cell_branchy", c: 3, layer: func(t *testing.T, r *rand.Rand) Layer {
			c, err := NewCell("c", dagArch(t, "0-1,0-2,1-3,2-3,0-4,3-5,1-6"), 3, ActSigmoid, r)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{name: "cell_full", c: 2, layer: func(t *testing.T, r *rand.Rand) Layer {
			c, err := NewCell("c", dagArch(t, "full"), 2, ActSigmoid, r)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{name: "avgpool2", c: 3, layer: func(t *testing.T, r *rand.Rand) Layer { return &AvgPool2{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 3))
			l := tc.layer(t, rng)
			gradCheck(t, l, randTensor(rng, 2, 4, 4, tc.c), true)
		})
	}
}

// The exported float DAG model computes what the engine computes in eval
// mode: this checks the cell wiring of both (merges, leaves, residual).
func TestExportDAGMatchesEngine(t *testing.T) {
	a := dagArch(t, "0-1,0-2,1-3,2-3,0-4,3-5,4-5,1-6")
	n, err := BuildDAG(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	exportMatches(t, n, func() (floatModeler, error) { return ExportDAG(n, a) })
	if _, err := ExportDAG(n, dagArch(t, "0-1,0-2")); err == nil {
		t.Error("export to a different topology accepted")
	}
	img := make([]float32, 28*28)
	if _, err := QuantizeDAG(n, a, [][]float32{img}, quantize.CalibOptions{}); err != nil {
		t.Errorf("quantize: %v", err)
	}
}
