package spnas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"edgenas/lut"
	"edgenas/nn"
	"edgenas/space"
)

// syntheticRuntime is a plausible runtime table for spnas-fmnist: per slot a
// base cost scaled by fixed op ratios, SE at 10-20% extra.
func syntheticRuntime(t testing.TB, seed uint64) *Runtime {
	t.Helper()
	s := space.MustLookup("spnas-fmnist")
	rng := rand.New(rand.NewPCG(seed, 5))
	sr := &lut.SpaceRuntime{Space: s}
	sr.Constant = 0.5
	for range s.Slots() {
		base := 0.05 + 0.15*rng.Float64()
		row := [4]float64{base, 1.7 * base, 1.3 * base, 2.2 * base}
		var se [4]float64
		for op, v := range row {
			se[op] = v * (0.1 + 0.1*rng.Float64())
		}
		sr.R = append(sr.R, row)
		sr.SE = append(sr.SE, se)
	}
	rt, err := NewRuntime(sr)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRuntimeGradientAndExactness(t *testing.T) {
	rt := syntheticRuntime(t, 1)
	s := rt.Space
	rng := rand.New(rand.NewPCG(2, 2))
	ds := make([]Ind, s.NumSearchable())
	for i := range ds {
		for k := range NumIndicators {
			ds[i][k] = rng.Float64()
		}
	}
	_, g, err := rt.Eval(ds)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		for k := range NumIndicators {
			const eps = 1e-5
			o := ds[i][k]
			ds[i][k] = o + eps
			rp, _, _ := rt.Eval(ds)
			ds[i][k] = o - eps
			rm, _, _ := rt.Eval(ds)
			ds[i][k] = o
			if num := (rp - rm) / (2 * eps); math.Abs(num-g[i][k]) > 1e-6 {
				t.Errorf("dR/dD[%d][%d] = %v, numeric %v", i, k, g[i][k], num)
			}
		}
	}
	// At hard indicators the formula equals the table for every choice but
	// k3e3 (which the paper's formula approximates).
	for _, sl := range s.Slots() {
		for _, c := range s.Options(sl) {
			a := s.Uniform(space.Choice{Kernel: 5, Expand: 6})
			a.Choices[sl.Index] = c
			hard := make([]Ind, len(a.Choices))
			for i, ch := range a.Choices {
				hard[i] = Encode(ch)
			}
			f, _, _ := rt.Eval(hard)
			ex, err := rt.Exact(a)
			if err != nil {
				t.Fatal(err)
			}
			if c.Kernel == 3 && c.Expand == 3 {
				continue
			}
			if math.Abs(f-ex) > 1e-9 {
				t.Errorf("slot %d %s: formula %v, table %v", sl.Index, c, f, ex)
			}
		}
	}
	if _, _, err := rt.Eval(ds[:3]); err == nil {
		t.Error("Eval accepted the wrong number of layers")
	}
}

// toySearch is the search's threshold dynamics on a synthetic problem:
// fixed norms, a differentiable "accuracy" loss -sum w*D that prefers every
// option on (more for costlier options), and lambda*log(R) with lambda from dual ascent. It returns the
// final decoded architecture.
func toySearch(t *testing.T, rt *Runtime, target float64, steps int, seed uint64) (*Landing, *DualAscent) {
	t.Helper()
	s := rt.Space
	slots := s.Slots()
	rng := rand.New(rand.NewPCG(seed, 9))
	n := len(slots)
	thr := &nn.Param{Name: "t", W: make([]float32, n*NumIndicators), G: make([]float32, n*NumIndicators)}
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9}, []*nn.Param{thr})
	if err != nil {
		t.Fatal(err)
	}
	sched := nn.Schedule{Kind: "cosine", Base: 0.01, Total: steps, Min: 0}
	// Each option's "accuracy" gain is its share of the full network's
	// runtime times a random efficiency, so no kind of decision dominates.
	full := make([]Ind, n)
	for i := range full {
		full[i] = Ind{1, 1, 1, 1}
	}
	r0, g0, err := rt.Eval(full)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]Ind, n)
	for i := range w {
		for k := range NumIndicators {
			w[i][k] = 0.3 * g0[i][k] / r0 * (0.5 + rng.Float64())
		}
	}
	const norm = 0.3
	searchable := func(i, k int) bool { return (k != I50 || slots[i].Skippable) }
	da, err := NewDualAscent(target, 0.02, 0, 0)
	land := &Landing{Target: target, Tol: 0.05}
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]Ind, n)
	arch := space.Arch{Space: s, Choices: make([]space.Choice, n)}
	for step := range steps {
		for i := range ds {
			for k := range NumIndicators {
				ds[i][k] = 1
				if searchable(i, k) && norm < float64(thr.W[i*NumIndicators+k]) {
					ds[i][k] = 0
				}
			}
			arch.Choices[i] = Decode(ds[i])
		}
		ex, err := rt.Exact(arch)
		if err != nil {
			t.Fatal(err)
		}
		land.Observe(arch.String(), ex)
		da.Update(ex)
		_, lg, err := latencyTerm(rt, ds, da.Lambda)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ds {
			for k := range NumIndicators {
				j := i*NumIndicators + k
				thr.G[j] = 0
				if searchable(i, k) {
					thr.G[j] = float32(-(lg[i][k] - w[i][k]) * surrogate(norm-float64(thr.W[j])))
				}
			}
		}
		opt.Step(sched.LR(step))
	}
	return land, da
}

func TestDualAscentReachesTarget(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		rt := syntheticRuntime(t, seed)
		lo, hi := rt.Range()
		for _, frac := range []float64{0.25, 0.35, 0.5, 0.65, 0.8} {
			target := lo + frac*(hi-lo)
			t.Run(fmt.Sprintf("seed%d_%.0f%%", seed, 100*frac), func(t *testing.T) {
				land, da := toySearch(t, rt, target, 600, seed)
				arch, r, within, ok := land.Result()
				a, err := rt.Space.Parse(arch)
				if err != nil || !ok {
					t.Fatalf("landing %q: %v", arch, err)
				}
				if ex, _ := rt.Exact(a); ex != r {
					t.Errorf("landing reports %v ms, table says %v", r, ex)
				}
				if !within || !da.Within(r, 0.05) {
					t.Errorf("target %.3f ms (range %.3f-%.3f): landed at %.3f ms (%+.1f%%), lambda %.3g, arch %s",
						target, lo, hi, r, 100*(r/target-1), da.Lambda, arch)
				}
			})
		}
	}
}
