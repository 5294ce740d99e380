// Command gorgoniabench times gorgonia v0.9.18 on the 3-layer conv net
// (batch 64, 28x28), for comparison with BenchmarkThreeLayerConv. Run it
// with `cd nn/testdata/gorgonia_bench && go run .` (needs the
// module proxy; a separate module so edgenas does not depend on gorgonia).
package main

import (
	"fmt"
	"log"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	const bs = 64
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(bs, 1, 28, 28), G.WithName("x"), G.WithInit(G.GlorotU(1)))
	w1 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(16, 1, 3, 3), G.WithName("w1"), G.WithInit(G.GlorotU(1)))
	w2 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(96, 16, 1, 1), G.WithName("w2"), G.WithInit(G.GlorotU(1)))
	w3 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(24, 96, 1, 1), G.WithName("w3"), G.WithInit(G.GlorotU(1)))
	h1 := G.Must(G.Conv2d(x, w1, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	h1 = G.Must(G.Rectify(h1))
	h2 := G.Must(G.Conv2d(h1, w2, tensor.Shape{1, 1}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
	h2 = G.Must(G.Rectify(h2))
	h3 := G.Must(G.Conv2d(h2, w3, tensor.Shape{1, 1}, []int{0, 0}, []int{1, 1}, []int{1, 1}))
	loss := G.Must(G.Mean(G.Must(G.Square(h3))))
	if _, err := G.Grad(loss, w1, w2, w3); err != nil {
		log.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w1, w2, w3))
	solver := G.NewVanillaSolver(G.WithLearnRate(0.001))
	step := func() {
		if err := vm.RunAll(); err != nil {
			log.Fatal(err)
		}
		solver.Step(G.NodesToValueGrads(G.Nodes{w1, w2, w3}))
		vm.Reset()
	}
	step()
	best := 0.0
	for r := 0; r < 3; r++ {
		t := time.Now()
		n := 0
		for time.Since(t) < 3*time.Second {
			step()
			n++
		}
		ips := float64(n*bs) / time.Since(t).Seconds()
		if ips > best {
			best = ips
		}
	}
	macs := 28.0 * 28 * (16*9 + 16*96 + 96*24)
	fmt.Printf("gorgonia v0.9.18 3-layer conv net, batch %d: %.0f images/s, %.2f GMAC/s effective (fwd MACs x3)\n", bs, best, best*macs*3/1e9)
}
