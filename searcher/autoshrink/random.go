package autoshrink

import (
	"fmt"
	"math"
	"math/rand/v2"

	"edgenas/lut"
	"edgenas/space"
)

// MaxRandomDraws bounds RandomWithin's sampling.
const MaxRandomDraws = 50_000

// RandomWithin samples count distinct random topologies of s whose
// predicted latency is within tol (relative) of targetMS: the equal-latency
// random baseline AutoShrink's picks are compared with.
func RandomWithin(s *space.DAGSpace, p lut.DAGPredictor, targetMS, tol float64, count int, seed uint64) ([]Snapshot, error) {
	if !(targetMS > 0) || !(tol > 0) || count <= 0 || math.IsInf(targetMS, 0) {
		return nil, fmt.Errorf("random topologies: need target > 0, tol > 0, count > 0")
	}
	rng := rand.New(rand.NewPCG(seed, 0x72616e646f6d))
	seen := map[uint64]bool{}
	var out []Snapshot
	for draw := 0; draw < MaxRandomDraws && len(out) < count; draw++ {
		a := s.RandomDAG(rng)
		if seen[a.Edges] {
			continue
		}
		seen[a.Edges] = true
		pd, err := p.PredictDAG(a)
		if err != nil {
			return nil, err
		}
		if math.Abs(pd.Millis/targetMS-1) <= tol {
			out = append(out, Snapshot{Arch: a.String(), Edges: a.NumEdges(), PredictedMS: pd.Millis})
		}
	}
	if len(out) < count {
		return nil, fmt.Errorf("random topologies: %d of %d found within %.0f%% of %.4g ms in %d draws (is the target inside the space's range?)",
			len(out), count, 100*tol, targetMS, MaxRandomDraws)
	}
	return out, nil
}
