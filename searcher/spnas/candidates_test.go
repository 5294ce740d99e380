package spnas

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A finished search leaves the run-directory contract: one candidate (the
// chosen architecture at its table runtime), the recipe's seed and target,
// and a search cost that a resumed re-run keeps rather than resets.
func TestRunWritesCandidates(t *testing.T) {
	rt := syntheticRuntime(t, 11)
	cfg := testConfig(rt)
	cfg.Seed = 7
	s, err := NewSearcher(cfg, rt, syntheticSet(8, 3))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ReadCandidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Method != "spnas" || rc.Space != rt.Space.Name || rc.Seed != 7 || rc.TargetMS != cfg.TargetMS ||
		len(rc.Candidates) != 1 || rc.Candidates[0].Arch != res.Arch || rc.Candidates[0].PredictedMS != res.TableMS || !(rc.SearchSeconds > 0) {
		t.Fatalf("candidates %+v do not match the result %+v", rc, res)
	}
	s2, _ := NewSearcher(cfg, rt, syntheticSet(8, 3))
	if _, err := Run(context.Background(), s2, dir, nil); err != nil {
		t.Fatal(err)
	}
	rc2, err := ReadCandidates(dir)
	if err != nil || rc2.SearchSeconds < rc.SearchSeconds {
		t.Errorf("re-run search_seconds %v < first run's %v (%v)", rc2.SearchSeconds, rc.SearchSeconds, err)
	}
}

func TestReadCandidatesRejects(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"not json", "{", "unexpected end"},
		{"no method", `{"space":"s","candidates":[{"arch":"a"}]}`, "method and space"},
		{"empty", `{"method":"random","space":"s","candidates":[]}`, "no candidates"},
		{"no arch", `{"method":"random","space":"s","candidates":[{"predicted_ms":1}]}`, "candidate 0 has no arch"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CandidatesFile), []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCandidates(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
