// Package evaluate judges architecture searches the way "NAS evaluation is
// frustratingly hard" asks: every candidate of every search run (searched
// and random alike) is trained with one fixed recipe over seeds, quantized to
// int8 with the same post-training quantization, and timed end to end on
// this machine; results are grouped per (method, target) and the searched
// groups are compared with the random group of the same target (RI).
package evaluate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"edgenas/nn"
	"edgenas/searcher/spnas"
)

// Run is one search run directory as evaluate reads it.
type Run struct {
	Dir string
	spnas.RunCandidates
	// Legacy marks a Single-Path NAS directory written before
	// candidates.json existed (result.json + arch.txt): its seed comes from
	// the supernet checkpoint when there is one, and its search cost is
	// estimated from file times (see legacySearchSeconds; 0 if unknown).
	Legacy bool
}

// LoadRun reads a run directory: candidates.json when present, else the
// legacy Single-Path NAS files. defaultSpace names the space of a legacy
// directory whose checkpoint cannot say it.
func LoadRun(dir, defaultSpace string) (Run, error) {
	rc, err := spnas.ReadCandidates(dir)
	if err == nil {
		return Run{Dir: dir, RunCandidates: rc}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Run{}, fmt.Errorf("run %s: %w", dir, err)
	}
	return loadLegacy(dir, defaultSpace)
}

func loadLegacy(dir, defaultSpace string) (Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, spnas.ResultFile))
	if err != nil {
		return Run{}, fmt.Errorf("run %s: neither %s nor %s: %w", dir, spnas.CandidatesFile, spnas.ResultFile, err)
	}
	var res spnas.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Run{}, fmt.Errorf("run %s: %s: %w", dir, spnas.ResultFile, err)
	}
	arch := res.Arch
	if a, err := os.ReadFile(filepath.Join(dir, spnas.ArchFile)); err == nil {
		arch = strings.TrimSpace(string(a))
	}
	if arch == "" {
		return Run{}, fmt.Errorf("run %s: %s has no architecture", dir, spnas.ResultFile)
	}
	r := Run{Dir: dir, Legacy: true, RunCandidates: spnas.RunCandidates{
		Method: "spnas", Space: defaultSpace, TargetMS: res.TargetMS, SearchSeconds: legacySearchSeconds(dir),
		Candidates: []spnas.RunCandidate{{Arch: arch, PredictedMS: res.TableMS}},
	}}
	// The search checkpoint's tag ("spnas-search:SPACE:...") and Extra
	// record the space and seed the search ran with.
	if ck, err := nn.LoadCheckpoint(filepath.Join(dir, spnas.CheckpointFile)); err == nil {
		if parts := strings.Split(ck.Arch, ":"); len(parts) > 1 && parts[0] == "spnas-search" {
			r.Space = parts[1]
		}
		if s := ck.Extra["seed"]; len(s) == 8 {
			r.Seed = binary.LittleEndian.Uint64(s)
		}
	}
	if r.Space == "" {
		return Run{}, fmt.Errorf("run %s: legacy run without a readable checkpoint and no default space", dir)
	}
	return r, nil
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
