package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/ref"
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
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range n.Buffers() {
		for i := range p.W {
			if p.Name[len(p.Name)-3:] == "var" {
				p.W[i] = 0.5 + rng.Float32()
			} else {
				p.W[i] = 0.2 * float32(rng.NormFloat64())
			}
		}
	}
	for _, p := range n.Params() {
		if len(p.Shape) == 1 {
			for i := range p.W {
				p.W[i] += 0.1 * float32(rng.NormFloat64())
			}
		}
	}
	img := make([]float32, 28*28)
	for i := range img {
		img[i] = rng.Float32()
	}
	logits, err := n.Forward(img, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), logits.Data...)
	qn, err := ExportDAG(n, a)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := qn.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	it, err := ref.Backend{}.Load(fm, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if err := it.SetInput(0, quantize.Float32Bytes(img)); err != nil {
		t.Fatal(err)
	}
	if err := it.Invoke(); err != nil {
		t.Fatal(err)
	}
	got := quantize.Float32s(it.Output(0))
	var maxd, scale float64
	for i := range want {
		maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	if maxd > 1e-3*math.Max(1, scale) {
		t.Errorf("exported model differs from the engine by %g (logit scale %g)\nengine %v\nexport %v", maxd, scale, want, got)
	}
	if _, err := ExportDAG(n, dagArch(t, "0-1,0-2")); err == nil {
		t.Error("export to a different topology accepted")
	}
	calib := [][]float32{img}
	if _, err := QuantizeDAG(n, a, calib, quantize.CalibOptions{}); err != nil {
		t.Errorf("quantize: %v", err)
	}
}
