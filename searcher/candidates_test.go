package searcher

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCandidatesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := RunCandidates{Method: "foxnas", Space: "spnas-fmnist", TargetMS: 0.37, Seed: 2, SearchSeconds: 12.5, LatencyModel: "lut-sum",
		Candidates: []RunCandidate{{Arch: "a", PredictedMS: 0.36}, {Arch: "b", PredictedMS: 0.38}}}
	if err := WriteCandidates(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCandidates(dir)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, %v; wrote %+v", got, err, want)
	}
	if err := WriteCandidates(t.TempDir(), RunCandidates{Method: "random", Space: "s"}); err == nil || !strings.Contains(err.Error(), "no candidates") {
		t.Errorf("writing no candidates: %v", err)
	}
}

func TestReadCandidatesRejects(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{name: "not json", body: "{", want: "unexpected end"},
		{name: "no method", body: `{"space":"s","candidates":[{"arch":"a"}]}`, want: "method and space"},
		{name: "empty", body: `{"method":"random","space":"s","candidates":[]}`, want: "no candidates"},
		{name: "no arch", body: `{"method":"random","space":"s","candidates":[{"predicted_ms":1}]}`, want: "candidate 0 has no arch"},
		{name: "no file", want: "not a search run directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.body != "" {
				if err := os.WriteFile(filepath.Join(dir, CandidatesFile), []byte(tc.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ReadCandidates(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Whatever a candidates file holds, parsing returns a checked run or an error.
func FuzzParseCandidates(f *testing.F) {
	f.Add([]byte(`{"method":"spnas","space":"spnas-fmnist","candidates":[{"arch":"a","predicted_ms":0.3}]}`))
	f.Add([]byte(`{"method":"random","space":"s","candidates":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := ParseCandidates(b)
		if err != nil {
			return
		}
		if rc.Method == "" || rc.Space == "" || len(rc.Candidates) == 0 || rc.Candidates[0].Arch == "" {
			t.Fatalf("accepted an unchecked run %+v", rc)
		}
	})
}
