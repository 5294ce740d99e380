// Package searchtest builds the small synthetic Fashion-MNIST-shaped data
// the searcher packages' tests train on, so they run in seconds without
// the real dataset.
package searchtest

import (
	"math/rand/v2"

	"edgenas/dataset/fmnist"
)

// Set is n random images whose mean brightness encodes their label, so a
// few steps of training have something to learn.
func Set(n int, seed uint64) *fmnist.Set {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &fmnist.Set{Images: make([]float32, n*fmnist.Pixels), Labels: make([]uint8, n)}
	for i := range n {
		c := rng.IntN(fmnist.Classes)
		s.Labels[i] = uint8(c)
		for p := range fmnist.Pixels {
			s.Images[i*fmnist.Pixels+p] = float32(c)/10 + 0.1*rng.Float32()
		}
	}
	return s
}

// Data is a training, validation and test split of Set images of the
// given sizes, each drawn with its own seed.
func Data(train, val, test int) *fmnist.Data {
	return &fmnist.Data{Train: Set(train, 1), Val: Set(val, 2), Test: Set(test, 3)}
}
