// Package evaluate judges architecture searches the way "NAS evaluation is
// frustratingly hard" asks: every candidate of every search run (searched
// and random alike) is trained with one fixed recipe over seeds, quantized to
// int8 with the same post-training quantization, and timed end to end on
// this machine; results are grouped per (method, target) and the searched
// groups are compared with the random group of the same target (RI).
package evaluate

import (
	"fmt"

	"edgenas/searcher"
)

// Run is one search run directory as evaluate reads it.
type Run struct {
	Dir string
	searcher.RunCandidates
}

// LoadRun reads a search run directory's searcher.CandidatesFile.
func LoadRun(dir string) (Run, error) {
	rc, err := searcher.ReadCandidates(dir)
	if err != nil {
		return Run{}, fmt.Errorf("run %s: %w", dir, err)
	}
	return Run{Dir: dir, RunCandidates: rc}, nil
}

// Seeds returns the training seeds of a run's candidates for k seeds per
// candidate. With k = 1 a search run's pick trains with the seed the search
// ran with (so a 3-seed search comparison is 3 searches x 1 training each),
// and everything else with seed 1; with k > 1 every candidate trains with
// seeds 1..k, so all methods share the same seeds.
func Seeds(r Run, k int) []uint64 {
	if k <= 1 {
		if r.Method != "random" && r.Seed > 0 {
			return []uint64{r.Seed}
		}
		return []uint64{1}
	}
	out := make([]uint64, k)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}
