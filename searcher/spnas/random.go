package spnas

import (
	"fmt"
	"math/rand/v2"
)

// Candidate is a sampled architecture with its predicted runtimes.
type Candidate struct {
	Arch      string  `json:"arch"`
	TableMS   float64 `json:"table_ms"`
	FormulaMS float64 `json:"formula_ms"`
}

// MaxRandomTries bounds the rejection sampler.
const MaxRandomTries = 2_000_000

// RandomWithin draws count distinct architectures uniformly from the space
// (each slot's options equally likely) and keeps those whose table runtime
// is within tol of target: the random baseline at equal latency. A target
// outside the space's runtime range, or one too rare to hit in
// MaxRandomTries draws, is an error saying so.
func RandomWithin(rt *Runtime, target, tol float64, count int, seed uint64) ([]Candidate, error) {
	if count <= 0 || !(tol > 0) || !(target > 0) {
		return nil, fmt.Errorf("random search: need count > 0, tolerance > 0 and a positive target (got %d, %v, %v)", count, tol, target)
	}
	lo, hi := rt.Range()
	if target*(1+tol) < lo || target*(1-tol) > hi {
		return nil, fmt.Errorf("random search: target %.3f ms +-%.0f%% is outside %s's runtime range %.3f-%.3f ms", target, 100*tol, rt.Space.Name, lo, hi)
	}
	rng := rand.New(rand.NewPCG(seed, 0x72616e64))
	seen := map[string]bool{}
	var out []Candidate
	for try := 0; try < MaxRandomTries && len(out) < count; try++ {
		a := rt.Space.Random(rng)
		ms, err := rt.Exact(a)
		if err != nil {
			return nil, err
		}
		key := a.String()
		if ms < target*(1-tol) || ms > target*(1+tol) || seen[key] {
			continue
		}
		seen[key] = true
		c := Candidate{Arch: key, TableMS: ms}
		if p, err := rt.Predict(a); err == nil {
			c.FormulaMS = p.Millis
		}
		out = append(out, c)
	}
	if len(out) < count {
		return out, fmt.Errorf("random search: only %d of %d architectures within %.0f%% of %.3f ms in %d draws (range %.3f-%.3f ms): the target is too rare under uniform sampling", len(out), count, 100*tol, target, MaxRandomTries, lo, hi)
	}
	return out, nil
}
