package searcher

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"edgenas/internal/atomicfile"
)

// CandidatesFile is the file in a search run's directory that every search
// method (spnas, foxnas, random) writes and `edgenas evaluate` reads.
const CandidatesFile = "candidates.json"

// MaxCandidatesBytes bounds the CandidatesFile a reader accepts: a run lists
// a handful of architectures, so anything near this is not a run.
const MaxCandidatesBytes = 16 << 20

// RunCandidates is the content of CandidatesFile: what a search run found
// and what it cost. Candidates[0] is the run's pick.
type RunCandidates struct {
	Method        string  `json:"method"`
	Space         string  `json:"space"`
	TargetMS      float64 `json:"target_ms"`
	Seed          uint64  `json:"seed"`
	SearchSeconds float64 `json:"search_seconds"`
	// LatencyModel says what PredictedMS means (lut.SpaceRuntime.LatencyModel):
	// a plain LUT sum, or a calibrated prediction of measured latency.
	LatencyModel string         `json:"latency_model,omitempty"`
	Candidates   []RunCandidate `json:"candidates"`
}

// RunCandidate is one architecture a run proposes, with its predicted latency.
type RunCandidate struct {
	Arch        string  `json:"arch"`
	PredictedMS float64 `json:"predicted_ms"`
}

// WriteCandidates writes rc to dir's CandidatesFile atomically.
func WriteCandidates(dir string, rc RunCandidates) error {
	path := filepath.Join(dir, CandidatesFile)
	if err := rc.check(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteJSON(path, rc)
}

// ReadCandidates reads and checks dir's CandidatesFile.
func ReadCandidates(dir string) (RunCandidates, error) {
	path := filepath.Join(dir, CandidatesFile)
	st, err := os.Stat(path)
	if err != nil {
		return RunCandidates{}, fmt.Errorf("%w (not a search run directory?)", err)
	}
	if st.Size() > MaxCandidatesBytes {
		return RunCandidates{}, fmt.Errorf("read %s: %d bytes, more than the %d a run's candidates take", path, st.Size(), MaxCandidatesBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return RunCandidates{}, fmt.Errorf("read %s: %w", path, err)
	}
	rc, err := ParseCandidates(b)
	if err != nil {
		return RunCandidates{}, fmt.Errorf("read %s: %w", path, err)
	}
	return rc, nil
}

// ParseCandidates decodes and checks the content of a CandidatesFile.
func ParseCandidates(b []byte) (RunCandidates, error) {
	var rc RunCandidates
	if err := json.Unmarshal(b, &rc); err != nil {
		return RunCandidates{}, err
	}
	if err := rc.check(); err != nil {
		return RunCandidates{}, err
	}
	return rc, nil
}

func (rc RunCandidates) check() error {
	switch {
	case rc.Method == "" || rc.Space == "":
		return fmt.Errorf("method and space are required")
	case len(rc.Candidates) == 0:
		return fmt.Errorf("no candidates")
	}
	for i, c := range rc.Candidates {
		if c.Arch == "" {
			return fmt.Errorf("candidate %d has no arch", i)
		}
	}
	return nil
}
