package lut

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"edgenas/space"
)

// spreadPool is how many biased architectures SpreadArchs draws from.
const spreadPool = 400

// SpreadArchs returns n architectures whose LUT sums span the space's range
// evenly, for fitting a calibration. Uniform per-slot sampling piles up in
// the middle (on spnas-fmnist, 16 uniform draws all measured 0.35-0.48 ms of
// a 0.11-0.64 ms range), so a calibration fitted on it extrapolates at the
// ends, where latency targets often are. A pool is drawn with per-arch bias
// towards each slot's fastest or slowest option, and the n members nearest
// to evenly spaced sums between the pool's extremes are kept.
func SpreadArchs(s *space.Space, t *Table, n int, seed uint64) ([]space.Arch, error) {
	if n <= 0 {
		return nil, nil
	}
	if n > spreadPool/4 {
		return nil, fmt.Errorf("spread sample: %d architectures, at most %d", n, spreadPool/4)
	}
	sum, err := NewLUTPredictor(t)
	if err != nil {
		return nil, err
	}
	// Each slot's options from fastest to slowest on this table.
	slots := s.Slots()
	ranked := make([][]space.Choice, len(slots))
	for i, sl := range slots {
		opts := s.Options(sl)
		cost := make(map[string]float64, len(opts))
		for _, c := range opts {
			if c.Skip {
				continue
			}
			l, err := s.SlotLayer(i, c)
			if err != nil {
				return nil, err
			}
			ms, ok := t.Millis(l.Key())
			if !ok {
				return nil, fmt.Errorf("spread sample: table %s has no entry %s", t, l.Key())
			}
			cost[c.String()] = ms
		}
		sort.SliceStable(opts, func(a, b int) bool { return cost[opts[a].String()] < cost[opts[b].String()] })
		ranked[i] = opts
	}
	rng := rand.New(rand.NewPCG(seed, 0x737072656164))
	type cand struct {
		a  space.Arch
		ms float64
	}
	pool := make([]cand, 0, spreadPool)
	for j := range spreadPool {
		// Bias p in [0,1): the chance a slot takes its extreme option; even
		// draws lean fast, odd ones slow.
		p := float64(j/2) / float64(spreadPool/2)
		a := space.Arch{Space: s, Choices: make([]space.Choice, len(slots))}
		for i, opts := range ranked {
			switch {
			case rng.Float64() >= p:
				a.Choices[i] = opts[rng.IntN(len(opts))]
			case j%2 == 0:
				a.Choices[i] = opts[0]
			default:
				a.Choices[i] = opts[len(opts)-1]
			}
		}
		pr, err := sum.Predict(a)
		if err != nil {
			return nil, err
		}
		pool = append(pool, cand{a, pr.Millis})
	}
	sort.Slice(pool, func(a, b int) bool { return pool[a].ms < pool[b].ms })
	lo, hi := pool[0].ms, pool[len(pool)-1].ms
	out := make([]space.Arch, 0, n)
	used := make([]bool, len(pool))
	// Strong biases draw the same extreme architecture more than once.
	for j := 1; j < len(pool); j++ {
		if pool[j].ms == pool[j-1].ms && pool[j].a.String() == pool[j-1].a.String() {
			used[j] = true
		}
	}
	for k := range n {
		want := lo
		if n > 1 {
			want = lo + (hi-lo)*float64(k)/float64(n-1)
		}
		best := -1
		for j, c := range pool {
			if used[j] {
				continue
			}
			if best < 0 || math.Abs(c.ms-want) < math.Abs(pool[best].ms-want) {
				best = j
			}
		}
		used[best] = true
		out = append(out, pool[best].a)
	}
	return out, nil
}
