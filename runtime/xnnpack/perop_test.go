//go:build cgo

package xnnpack

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"edgenas/runtime"
)

// TestPerOperatorMode loads an inverted-residual block whole (one XNNPACK
// partition) and per operator (one XNNPACK runtime each): the outputs must
// be identical and the per-operator profile must time every operator under
// its own name.
func TestPerOperatorMode(t *testing.T) {
	m := mbconvModel(3, 2)
	whole, err := Backend{}.Load(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	perOp, err := Backend{}.Load(m, runtime.Options{Threads: 1, PerOperator: true})
	if err != nil {
		t.Fatal(err)
	}
	defer perOp.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	in := make([]byte, m.Input(0).Bytes())
	for i := range in {
		in[i] = byte(rng.UintN(256))
	}
	for _, it := range []runtime.Interpreter{whole, perOp} {
		if err := it.SetInput(0, in); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(whole.Output(0), perOp.Output(0)) {
		t.Fatal("per-operator runtimes compute another output than the fused partition")
	}
	tests := []struct {
		name      string
		it        runtime.Interpreter
		wantNames []string
	}{
		{name: "whole graph", it: whole, wantNames: []string{"XNNPACK(4 ops)"}},
		{name: "per operator", it: perOp, wantNames: []string{"CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof := tc.it.Profile()
			var names []string
			for k, p := range prof {
				names = append(names, p.Name)
				if p.Backend != "xnnpack" || p.Count != 3 || p.Total <= 0 {
					t.Errorf("node %d %s: backend %s, %d runs, %v", k, p.Name, p.Backend, p.Count, p.Total)
				}
				if tc.name == "per operator" && !slices.Equal(p.Ops, []int{k}) {
					t.Errorf("node %d covers operators %v, want [%d]", k, p.Ops, k)
				}
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Fatalf("profile nodes %v, want %v", names, tc.wantNames)
			}
		})
	}
}
