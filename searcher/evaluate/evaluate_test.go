package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/searcher"
	"edgenas/searcher/recipe"
	"edgenas/space"
)

const (
	archA = "k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"
	archB = "k3e6,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRun(t *testing.T) {
	cur := t.TempDir()
	want := searcher.RunCandidates{Method: "foxnas", Space: "spnas-fmnist", TargetMS: 0.37, Seed: 2, SearchSeconds: 12.5,
		Candidates: []searcher.RunCandidate{{Arch: archA, PredictedMS: 0.36}, {Arch: archB, PredictedMS: 0.38}}}
	if err := searcher.WriteCandidates(cur, want); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	writeJSON(t, filepath.Join(bad, searcher.CandidatesFile), map[string]any{"method": "random", "space": "spnas-fmnist"})
	// A search directory without candidates.json (a search that never
	// finished) is not a run evaluate can read.
	unfinished := t.TempDir()
	writeJSON(t, filepath.Join(unfinished, "result.json"), map[string]any{"arch": archA, "table_ms": 0.27})
	tests := []struct {
		name string
		dir  string
		want searcher.RunCandidates
		err  string
	}{
		{name: "candidates.json", dir: cur, want: want},
		{name: "empty dir", dir: t.TempDir(), err: "candidates.json: no such file or directory (not a search run directory?)"},
		{name: "result.json only", dir: unfinished, err: "not a search run directory"},
		{name: "bad candidates.json", dir: bad, err: "no candidates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := LoadRun(tc.dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.dir) {
					t.Errorf("error %v, want %q naming the directory", err, tc.err)
				}
				return
			}
			if err != nil || r.Dir != tc.dir || !reflect.DeepEqual(r.RunCandidates, tc.want) {
				t.Errorf("got %+v, %v; want %+v", r, err, tc.want)
			}
		})
	}
}

func TestSeeds(t *testing.T) {
	tests := []struct {
		method string
		seed   uint64
		k      int
		want   []uint64
	}{
		{"spnas", 3, 1, []uint64{3}},
		{"foxnas", 2, 1, []uint64{2}},
		{"spnas", 0, 1, []uint64{1}}, // no seed recorded
		{"random", 7, 1, []uint64{1}},
		{"spnas", 3, 3, []uint64{1, 2, 3}},
		{"random", 7, 2, []uint64{1, 2}},
	}
	for _, tc := range tests {
		r := Run{RunCandidates: searcher.RunCandidates{Method: tc.method, Seed: tc.seed}}
		got := Seeds(r, tc.k)
		if len(got) != len(tc.want) {
			t.Errorf("%s seed %d k %d: %v, want %v", tc.method, tc.seed, tc.k, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s seed %d k %d: %v, want %v", tc.method, tc.seed, tc.k, got, tc.want)
			}
		}
	}
}

// The cache key separates everything that changes a training's result.
func TestTrainKey(t *testing.T) {
	a := space.MustLookup("spnas-fmnist")
	px, err := a.Parse(archA)
	if err != nil {
		t.Fatal(err)
	}
	py, _ := a.Parse(archB)
	x, y := recipe.Chain(px), recipe.Chain(py)
	rc := recipe.Default()
	other := rc
	other.Epochs *= 2
	base := trainKey(rc, 0, x, 1)
	for name, k := range map[string]string{
		"arch": trainKey(rc, 0, y, 1), "seed": trainKey(rc, 0, x, 2), "recipe": trainKey(other, 0, x, 1), "eval images": trainKey(rc, 100, x, 1),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the cache key %s", name, k)
		}
	}
	if trainKey(rc, 0, x, 1) != base {
		t.Error("the cache key is not deterministic")
	}
}

func TestSummarize(t *testing.T) {
	tr := func(method string, target float64, run, arch string, seed uint64, fa, ia, pred, meas, search float64) *Training {
		return &Training{Method: method, TargetMS: target, Run: run, Arch: arch, Seed: seed, FloatAcc: fa, Int8Acc: ia,
			PredictedMS: pred, MeasuredMS: meas, SearchSeconds: search}
	}
	ts := []*Training{
		tr("spnas", 0.28, "s1", "a", 1, 0.90, 0.89, 0.27, 0.29, 100),
		tr("spnas", 0.28, "s2", "b", 2, 0.86, 0.85, 0.29, 0.27, 200),
		tr("random", 0.28, "r", "c", 1, 0.80, 0.80, 0.28, 0.28, 0.1),
		tr("random", 0.28, "r", "d", 1, 0.84, 0.82, 0.28, 0.30, 0.1),
		tr("spnas", 0.37, "s3", "e", 1, 0.9, 0.9, 0.37, 0.37, 50), // no random group at 0.37: no RI
	}
	rep := Summarize(ts, false)
	if len(rep.Groups) != 3 {
		t.Fatalf("%d groups, want 3: %+v", len(rep.Groups), rep.Groups)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	rnd, sp, lone := rep.Groups[0], rep.Groups[1], rep.Groups[2]
	if rnd.Method != "random" || sp.Method != "spnas" || lone.TargetMS != 0.37 {
		t.Fatalf("group order %s %s %v", rnd.Method, sp.Method, lone.TargetMS)
	}
	if sp.N != 2 || sp.Runs != 2 || rnd.Runs != 1 || rnd.Archs != 2 || !near(sp.FloatAcc.Mean, 0.88) || !near(sp.FloatAcc.Std, math.Sqrt(0.0008)) {
		t.Errorf("spnas group %+v", sp)
	}
	if !near(sp.SearchSeconds, 150) || !near(rnd.SearchSeconds, 0.1) {
		t.Errorf("search cost per run: spnas %v random %v, want 150 and 0.1", sp.SearchSeconds, rnd.SearchSeconds)
	}
	if !near(rnd.MeasuredErrPct, 100*(0.29/0.28-1)) || !near(sp.PredictedErrPct, 0) {
		t.Errorf("latency errors: random measured %v, spnas predicted %v", rnd.MeasuredErrPct, sp.PredictedErrPct)
	}
	if sp.RIFloat == nil || !near(*sp.RIFloat, 100*(0.88-0.82)/0.82) || sp.RIInt8 == nil || !near(*sp.RIInt8, 100*(0.87-0.81)/0.81) {
		t.Errorf("RI %v %v", sp.RIFloat, sp.RIInt8)
	}
	// Resampling picks {0.90, 0.86} against random {0.80, 0.84}: the worst
	// resample is 0.86 twice against 0.84 twice, the best 0.90 against 0.80,
	// so every resampled RI lies in [2.38, 12.5] and the interval excludes 0.
	if iv := sp.RIFloatCI; iv == nil || iv.Excludes(*sp.RIFloat) || iv.Lo < 100*(0.86-0.84)/0.84-1e-9 || iv.Hi > 12.5+1e-9 || !iv.Excludes(0) {
		t.Errorf("RI float interval %+v around %v", iv, *sp.RIFloat)
	}
	if sp.RIInt8CI == nil || lone.RIInt8CI != nil || rnd.RIInt8CI != nil {
		t.Errorf("int8 intervals: spnas %v, lone %v, random %v", sp.RIInt8CI, lone.RIInt8CI, rnd.RIInt8CI)
	}
	if rnd.RIFloat != nil || lone.RIFloat != nil {
		t.Error("RI for the random group itself or a target without random architectures")
	}
	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ResultsJSON, ResultsCSV, SummaryCSV, AccLatencyPNG, RIPNG, PredMeasPNG} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, ResultsCSV))
	if lines := strings.Count(string(b), "\n"); lines != len(ts)+1 {
		t.Errorf("results.csv has %d lines, want %d", lines, len(ts)+1)
	}
	sum, _ := os.ReadFile(filepath.Join(out, SummaryCSV))
	rows := strings.Split(strings.TrimSpace(string(sum)), "\n")
	wantCI := fmt.Sprintf("%g,%g", sp.RIFloatCI.Lo, sp.RIFloatCI.Hi)
	if len(rows) != 4 || !strings.Contains(rows[0], "ri_int8_ci95_hi") || !strings.HasPrefix(rows[2], "spnas,0.28,") ||
		!strings.Contains(strconv.Quote(rows[2]), strconv.FormatFloat(sp.RIFloatCI.Lo, 'g', 6, 64)) || !strings.HasSuffix(rows[1], ",,,,,,") {
		t.Errorf("summary.csv (want header + 3 groups, spnas with its interval %s, random without RI):\n%s", wantCI, sum)
	}
	var sb strings.Builder
	wantCell := fmt.Sprintf("+7.32%% [%+.2f, %+.2f]", sp.RIFloatCI.Lo, sp.RIFloatCI.Hi)
	if err := rep.Print(&sb); err != nil || !strings.Contains(sb.String(), wantCell) {
		t.Errorf("table lacks the RI %s:\n%s", wantCell, sb.String())
	}
}

// Sharing the accuracy run among workers gives exactly the single-worker
// figure, and bad input or a cancelled context is an error.
func TestInt8AccuracyWorkers(t *testing.T) {
	a, err := space.MustLookup("spnas-fmnist").Parse(archA)
	if err != nil {
		t.Fatal(err)
	}
	m, err := quantize.ArchModel(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3*accuracyChunk - 17
	set := &fmnist.Set{Images: make([]float32, n*fmnist.Pixels), Labels: make([]uint8, n)}
	for i := range set.Images {
		set.Images[i] = rng.Float32()
	}
	for i := range set.Labels {
		set.Labels[i] = uint8(rng.IntN(10))
	}
	one, err := Int8Accuracy(context.Background(), m, "xnnpack", set, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var calls, last int
	three, err := Int8Accuracy(context.Background(), m, "xnnpack", set, 3, func(done int) { calls++; last = done })
	if err != nil || three != one || calls != 3 || last != n {
		t.Errorf("3 workers: %v (%v), %d progress calls ending at %d; 1 worker: %v", three, err, calls, last, one)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, f := range map[string]func() error{
		"cancelled": func() error { _, err := Int8Accuracy(ctx, m, "xnnpack", set, 2, nil); return err },
		"empty": func() error {
			_, err := Int8Accuracy(context.Background(), m, "xnnpack", set.Slice(0, 0), 2, nil)
			return err
		},
		"backend": func() error { _, err := Int8Accuracy(context.Background(), m, "nope", set, 2, nil); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// PicksOnly trains a search run's pick only, and every random architecture.
func TestPlanPicksOnly(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	var cands []searcher.RunCandidate
	for i := uint64(0); i < 3; i++ {
		cands = append(cands, searcher.RunCandidate{Arch: s.RandomSeed(i).String(), PredictedMS: 0.3})
	}
	fox, rnd := t.TempDir(), t.TempDir()
	for _, r := range []struct {
		dir, method string
	}{{fox, "foxnas"}, {rnd, "random"}} {
		if err := searcher.WriteCandidates(r.dir, searcher.RunCandidates{Method: r.method, Space: s.Name, TargetMS: 0.3, Seed: 1, Candidates: cands}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		picks bool
		want  int
	}{{false, 6}, {true, 4}} {
		_, ts, err := Plan(Config{Runs: []string{fox, rnd}, Work: t.TempDir(), Seeds: 1, Recipe: recipe.Default(), PicksOnly: tc.picks})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != tc.want {
			t.Errorf("PicksOnly %v: %d trainings, want %d", tc.picks, len(ts), tc.want)
		}
	}
}

// Grouped measurement must hand every model its own figure back, whatever
// the shuffle and group size, and mix the groups.
func TestMeasureGrouped(t *testing.T) {
	var cands []profiler.Candidate
	for i := range 11 {
		cands = append(cands, profiler.Candidate{Name: strconv.Itoa(i)})
	}
	for _, group := range []int{1, 3, 5, 11, 20} {
		calls, inOrder := 0, true
		ms, err := measureGrouped(cands, group, 0, func(part []profiler.Candidate) ([]profiler.Measurement, error) {
			calls++
			if len(part) > group {
				t.Errorf("group %d: measured %d together", group, len(part))
			}
			out := make([]profiler.Measurement, len(part))
			for k, c := range part {
				v, _ := strconv.Atoi(c.Name)
				out[k].Name, out[k].Stats.P50 = c.Name, float64(100+v)
				if k > 0 && part[k-1].Name > c.Name {
					inOrder = false
				}
			}
			return out, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := (len(cands) + group - 1) / group; calls != want {
			t.Errorf("group %d: %d measure calls, want %d", group, calls, want)
		}
		for i, m := range ms {
			if m.Stats.P50 != float64(100+i) {
				t.Errorf("group %d: model %d got the figure of %s", group, i, m.Name)
			}
		}
		if group == 5 && inOrder {
			t.Error("groups of 5 are not shuffled")
		}
	}
	// Another round draws other groups.
	first := func(round uint64) string {
		var names string
		measureGrouped(cands, 5, round, func(part []profiler.Candidate) ([]profiler.Measurement, error) {
			if names == "" {
				for _, c := range part {
					names += c.Name + ","
				}
			}
			return make([]profiler.Measurement, len(part)), nil
		})
		return names
	}
	if a, b := first(0), first(1); a == b {
		t.Errorf("rounds 0 and 1 both start with group %s", a)
	}
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{0.4, 0.2, 0.3}, 0.3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if _, err := measureGrouped(cands, 4, 0, func(part []profiler.Candidate) ([]profiler.Measurement, error) {
		return nil, nil
	}); err == nil {
		t.Error("short measurement accepted")
	}
}

// With latency matching a method is compared with the random group nearest
// its picks' mean predicted latency, not the random group of its target;
// without one within MatchTol it gets no RI.
func TestSummarizeMatchLatency(t *testing.T) {
	tr := func(method string, target float64, run, arch string, ia, pred float64) *Training {
		return &Training{Method: method, TargetMS: target, Run: run, Arch: arch, Seed: 1, FloatAcc: ia, Int8Acc: ia,
			PredictedMS: pred, MeasuredMS: pred}
	}
	ts := []*Training{
		tr("autoshrink", 0.15, "a1", "x", 0.86, 0.12),
		tr("autoshrink", 0.15, "a2", "y", 0.86, 0.14), // mean predicted 0.13
		tr("random", 0.15, "r15", "p", 0.90, 0.15),
		tr("random", 0.15, "r15", "q", 0.90, 0.15),
		tr("random", 0.131, "r13", "u", 0.80, 0.13),
		tr("random", 0.131, "r13", "v", 0.80, 0.132),
		tr("spnas", 0.30, "s1", "z", 0.9, 0.30), // no random within 5% of 0.30
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	tests := []struct {
		name     string
		match    bool
		wantBase float64
		wantRI   float64
	}{
		{name: "same target", match: false, wantBase: 0.15, wantRI: 100 * (0.86 - 0.90) / 0.90},
		{name: "matched latency", match: true, wantBase: 0.131, wantRI: 100 * (0.86 - 0.80) / 0.80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Summarize(ts, tc.match)
			for _, g := range rep.Groups {
				switch {
				case g.Method == "autoshrink":
					if g.RIInt8 == nil || !near(*g.RIInt8, tc.wantRI) || g.BaselineMS != tc.wantBase {
						t.Errorf("autoshrink RI %v vs random at %v, want %v vs %v", g.RIInt8, g.BaselineMS, tc.wantRI, tc.wantBase)
					}
				case g.Method == "spnas":
					if g.RIInt8 != nil || g.BaselineMS != 0 {
						t.Errorf("spnas compared with random at %v (RI %v): none is near 0.30 ms", g.BaselineMS, g.RIInt8)
					}
				case g.RIInt8 != nil:
					t.Errorf("random group at %v has an RI", g.TargetMS)
				}
			}
			var sb strings.Builder
			if err := rep.Print(&sb); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%.3g ms", tc.wantBase); !strings.Contains(sb.String(), want) {
				t.Errorf("table does not say the RI is against random at %s:\n%s", want, sb.String())
			}
		})
	}
}
