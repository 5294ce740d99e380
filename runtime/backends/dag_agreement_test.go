package backends

import (
	"testing"

	"edgenas/quantize"
	"edgenas/space"
)

// Random DAG-space models agree across backends as the chain models do: per
// operator the kernels differ by one quantum at most, compounded through
// depth. The DAG models are shallower than spnas-fmnist's (no SE, no
// MEAN inside cells), so they agree more closely: measured 99.12% of logits
// within one quantum, largest difference 2, top-1 80/80; the bounds sit a
// little under that so a kernel bug breaks them.
func TestDAGModelAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("DAG agreement builds and runs 8 models")
	}
	if !xnnpackAvailable() {
		t.Fatal("xnnpack backend not available in this build")
	}
	s, err := space.LookupDAG("autoshrink-fmnist")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		archs      []space.DAGArch
		inputs     int
		minWithin1 float64
		maxDiff    int
	}{
		{name: "autoshrink-fmnist", inputs: 10, minWithin1: 0.97, maxDiff: 4, archs: []space.DAGArch{
			s.Full(), s.RandomDAGSeed(1), s.RandomDAGSeed(2), s.RandomDAGSeed(3), s.RandomDAGSeed(4),
			s.RandomDAGSeed(5), s.RandomDAGSeed(6), s.RandomDAGSeed(7)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var agg agreement
			for i, a := range tc.archs {
				m, err := quantize.DAGModel(a, uint64(i))
				if err != nil {
					t.Fatalf("%s: %v", a, err)
				}
				compareModel(t, m, tc.inputs, &agg)
			}
			t.Logf("%s: %d models: %s", tc.name, len(tc.archs), &agg)
			if float64(agg.top1Same) < 0.95*float64(agg.inputs) {
				t.Errorf("top-1 agreement below 95%%: %s", &agg)
			}
			if agg.within1Frac() < tc.minWithin1 || agg.maxDiff > tc.maxDiff {
				t.Errorf("outputs diverge beyond compounded rounding (want >= %.0f%% within one quantum, max <= %d): %s",
					100*tc.minWithin1, tc.maxDiff, &agg)
			}
		})
	}
}
