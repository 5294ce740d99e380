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

// The exported float model computes what the engine computes in eval mode.
func TestExportMatchesEngine(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	a, err := s.Parse("k5e6+se,k3e3,skip,k3e6+se,k5e3,skip,k5e6,k3e3+se,skip,k3e3,skip,k5e6")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Build(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	exportMatches(t, n, func() (floatModeler, error) { return Export(n, a) })
	// A network of another architecture is refused.
	other := s.Uniform(space.Choice{Kernel: 3, Expand: 3})
	if _, err := Export(n, other); err == nil {
		t.Error("export to a different architecture accepted")
	}
}

// exportMatches gives n non-trivial batch-norm state, as after training,
// and checks the exported float model computes the engine's eval-mode
// logits on a random image (run on the ref backend).
func exportMatches(t *testing.T, n *Net, export func() (floatModeler, error)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	// Non-trivial batch-norm state, as after training.
	for _, p := range n.Buffers() {
		for i := range p.W {
			if len(p.Name) > 0 && p.Name[len(p.Name)-3:] == "var" {
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
	qn, err := export()
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
}
