package quantize

import (
	"fmt"
	"math/rand/v2"

	"edgenas/space"
	"edgenas/tflite"
)

// GenOptions configure Generate. The zero value is what ArchModel and
// LayerModel use.
type GenOptions struct {
	// Samples is the number of random calibration inputs; 0 chooses by
	// cost: 4 for models under 50 MMACs, else 2 (an spnas-imagenet model
	// calibrates in about 0.4 s per sample on one core).
	Samples int
	// InputMin and InputMax bound the uniform random inputs; both 0 means
	// [-1, 1] (an image normalized as MobileNet expects), or [0, 6] when the
	// first layer is pooling or the classifier, whose inputs in a network
	// are ReLU6 outputs.
	InputMin, InputMax float32
	Calib              CalibOptions
	Quant              Options
	// Softmax appends a SOFTMAX to a classifier's logits.
	Softmax bool
}

// ArchModel builds the int8 model of an architecture with random weights
// from seed, calibrated on random inputs (see Generate).
func ArchModel(a space.Arch, seed uint64) (*tflite.Model, error) {
	if a.Space == nil {
		return nil, fmt.Errorf("quantize: architecture has no search space")
	}
	if len(a.Choices) != a.Space.NumSearchable() {
		return nil, fmt.Errorf("quantize: architecture has %d choices, space %s has %d searchable layers",
			len(a.Choices), a.Space.Name, a.Space.NumSearchable())
	}
	m, err := Generate(a.Layers(), seed, GenOptions{})
	if err != nil {
		return nil, fmt.Errorf("architecture %s: %w", a, err)
	}
	m.Description = fmt.Sprintf("edgenas %s %s seed %d", a.Space.Name, a, seed)
	return m, nil
}

// LayerModel builds the int8 model of one layer alone at the layer's input
// shape (the profiler's microbenchmark), with random weights from seed.
// A skip layer has no operators and is an error.
func LayerModel(l space.Layer, seed uint64) (*tflite.Model, error) {
	if l.Kind == space.KindSkip {
		return nil, fmt.Errorf("quantize: a skip layer has no operators to build")
	}
	if isDAGKind(l.Kind) {
		return dagLayerModel(l, seed)
	}
	m, err := Generate([]space.Layer{l}, seed, GenOptions{})
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Key(), err)
	}
	m.Description = fmt.Sprintf("edgenas layer %s seed %d", l.Key(), seed)
	return m, nil
}

// Generate runs the whole pipeline on random data: RandomNet(layers, seed),
// its FloatModel, calibration on seeded uniform random inputs, Quantize.
func Generate(layers []space.Layer, seed uint64, opts GenOptions) (*tflite.Model, error) {
	n, err := RandomNet(layers, seed)
	if err != nil {
		return nil, err
	}
	n.Softmax = opts.Softmax
	fm, err := n.FloatModel()
	if err != nil {
		return nil, err
	}
	return calibrateRandom(fm, layers, seed, opts)
}

func (o GenOptions) samples(layers []space.Layer) int {
	if o.Samples > 0 {
		return o.Samples
	}
	var macs int64
	for _, l := range layers {
		macs += l.MACs()
	}
	if macs < 50e6 {
		return 4
	}
	return 2
}

func (o GenOptions) inputRange(layers []space.Layer) Range {
	if o.InputMin != 0 || o.InputMax != 0 {
		return Range{o.InputMin, o.InputMax}
	}
	if k := layers[0].Kind; k == space.KindPool || k == space.KindFC {
		return Range{0, 6}
	}
	return Range{-1, 1}
}

// RandomInputs draws n samples for the model's float graph inputs, values
// uniform in r, deterministic per seed.
func RandomInputs(m *tflite.Model, n int, seed uint64, r Range) [][][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0x63616c6962726174))
	out := make([][][]float32, n)
	for s := range out {
		out[s] = make([][]float32, len(m.Inputs))
		for i := range m.Inputs {
			v := make([]float32, m.Input(i).NumElements())
			for j := range v {
				v[j] = r.Min + (r.Max-r.Min)*rng.Float32()
			}
			out[s][i] = v
		}
	}
	return out
}
