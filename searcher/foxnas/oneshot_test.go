package foxnas

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/lut"
	"edgenas/searcher/internal/searchtest"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

// Uniform one-shot sampling reaches every option at every slot: both
// kernels, both expansions, SE on and off, and a skip wherever the slot may
// skip (never where it may not).
func TestOneShotSamplingCoversEveryChoice(t *testing.T) {
	for _, name := range []string{"spnas-fmnist", "spnas-imagenet"} {
		t.Run(name, func(t *testing.T) {
			s := space.MustLookup(name)
			enc, err := NewArchEncoding(s)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 7))
			seen := make([]map[string]bool, s.NumSearchable())
			for i := range seen {
				seen[i] = map[string]bool{}
			}
			for range 2000 {
				a := enc.Random(rng)
				if _, err := s.Parse(a.String()); err != nil {
					t.Fatalf("sampled %s does not parse: %v", a, err)
				}
				for i, c := range a.Choices {
					switch {
					case c.Skip:
						seen[i]["skip"] = true
					default:
						seen[i]["k"+string(rune('0'+c.Kernel))] = true
						seen[i]["e"+string(rune('0'+c.Expand))] = true
						seen[i]["se="+map[bool]string{true: "on", false: "off"}[c.SE]] = true
					}
				}
			}
			for i, sl := range s.Slots() {
				want := []string{"k3", "k5", "e3", "e6", "se=on", "se=off"}
				if sl.Skippable {
					want = append(want, "skip")
				} else if seen[i]["skip"] {
					t.Errorf("slot %d cannot skip but was sampled as skip", i)
				}
				for _, w := range want {
					if !seen[i][w] {
						t.Errorf("slot %d never sampled %s (saw %v)", i, w, seen[i])
					}
				}
			}
		})
	}
}

// A few one-shot steps train several distinct sub-networks and leave the
// thresholds alone; a training cancelled mid-run resumes through the loop
// to the weights, log and final accuracy of an uninterrupted one.
func TestOneShotTrainAndResume(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	train := searchtest.Set(48, 1)
	cfg := OneShotConfig{Epochs: 2, DataFrac: 1, Batch: 16, LR: 0.01, Seed: 3}
	o, err := NewOneShot(cfg, s, train)
	if err != nil {
		t.Fatal(err)
	}
	if o.Total != 6 {
		t.Fatalf("total steps %d, want 6", o.Total)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	archs := map[string]bool{}
	_, err = TrainSupernet(ctx, o, dir, func(l OneShotLog) {
		archs[l.Arch] = true
		if l.Step == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "supernet training interrupted at step 3 of 6 (resumable") {
		t.Fatalf("interrupted training: %v", err)
	}
	if len(archs) < 3 {
		t.Errorf("only %d distinct sub-networks in 3 steps", len(archs))
	}
	// Resume in a fresh trainer and finish; a straight run must agree.
	o2, _ := NewOneShot(cfg, s, train)
	var resumed []int
	info, err := TrainSupernet(context.Background(), o2, dir, func(l OneShotLog) { resumed = append(resumed, l.Step) })
	if err != nil {
		t.Fatal(err)
	}
	if info.Steps != 6 || !(info.TrainSeconds > 0) || len(resumed) != 3 || resumed[0] != 3 {
		t.Errorf("info %+v after steps %v", info, resumed)
	}
	logData, err := os.ReadFile(filepath.Join(dir, SupernetLogFile))
	if err != nil {
		t.Fatal(err)
	}
	straight := t.TempDir()
	o3, _ := NewOneShot(cfg, s, train)
	info3, err := TrainSupernet(context.Background(), o3, straight, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(filepath.Join(straight, SupernetLogFile)); string(logData) != string(want) {
		t.Errorf("resumed log\n%s\nuninterrupted\n%s", logData, want)
	}
	if info.FinalTrainAcc != info3.FinalTrainAcc {
		t.Errorf("final training accuracy %v resumed, %v uninterrupted", info.FinalTrainAcc, info3.FinalTrainAcc)
	}
	p2, p3 := o2.Net.Net.Params(), o3.Net.Net.Params()
	for i := range p2 {
		for j := range p2[i].W {
			if p2[i].W[j] != p3[i].W[j] {
				t.Fatalf("resumed run differs from a straight run at %s[%d]: %v vs %v", p2[i].Name, j, p2[i].W[j], p3[i].W[j])
			}
		}
	}
	for _, b := range o3.Net.Blocks {
		for _, v := range b.T.W {
			if v != 0 {
				t.Fatalf("threshold %s moved to %v in one-shot training", b.T.Name, v)
			}
		}
	}
	// A finished supernet is loaded, not trained again, with its figures kept.
	o5, _ := NewOneShot(cfg, s, train)
	info5, err := TrainSupernet(context.Background(), o5, dir, func(OneShotLog) { t.Error("a finished supernet trained again") })
	if err != nil || info5 != info {
		t.Errorf("reloaded supernet %+v, %v; want %+v", info5, err, info)
	}
	// A different recipe refuses the directory's checkpoint.
	cfg.Seed = 4
	o4, _ := NewOneShot(cfg, s, train)
	if _, err := TrainSupernet(context.Background(), o4, dir, nil); err == nil || !strings.Contains(err.Error(), "checkpoint is of") {
		t.Errorf("recipe mismatch: %v", err)
	}
}

// Sub-network evaluation is a function of the architecture: the same
// architecture gives the same accuracy and loss whatever was evaluated in
// between (batch-norm statistics are recalibrated from scratch each time),
// and different sub-networks give different results.
func TestSubnetEvaluationDeterministic(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	train, val := searchtest.Set(32, 1), searchtest.Set(40, 2)
	o, err := NewOneShot(OneShotConfig{Epochs: 1, DataFrac: 1, Batch: 16, LR: 0.01, Seed: 5}, s, train)
	if err != nil {
		t.Fatal(err)
	}
	for !o.Done() {
		if _, err := o.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := NewSubnetEvaluator(o.Net, train, 2, 16, val)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	a, b := o.Enc.Random(rng), o.Enc.Random(rng)
	acc1, loss1, err := ev.Evaluate(a)
	if err != nil {
		t.Fatal(err)
	}
	accB, lossB, err := ev.Evaluate(b)
	if err != nil {
		t.Fatal(err)
	}
	acc2, loss2, err := ev.Evaluate(a)
	if err != nil {
		t.Fatal(err)
	}
	if acc1 != acc2 || loss1 != loss2 {
		t.Errorf("%s evaluated twice: acc %v/%v loss %v/%v", a, acc1, acc2, loss1, loss2)
	}
	if lossB == loss1 && accB == acc1 {
		t.Errorf("%s and %s evaluate identically (loss %v): forcing has no effect", a, b, loss1)
	}
	if _, err := NewSubnetEvaluator(o.Net, train, 10, 16, val); err == nil || !strings.Contains(err.Error(), "calibration needs 160 images") {
		t.Errorf("short calibration set: %v", err)
	}
}

// syntheticRuntime is a runtime table for s whose entries are proportional
// to each layer's MACs (1 ns per MAC plus 5 us).
func syntheticRuntime(t *testing.T, s *space.Space) *spnas.Runtime {
	t.Helper()
	ms := map[string]float64{}
	for _, l := range s.UniqueKeys() {
		ms[l.Key()] = 0.005 + float64(l.MACs())*1e-6
	}
	tab, err := lut.TableFromMillis("synthetic", "xnnpack", 1, "test", ms)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := lut.NewSpaceRuntime(s, tab)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := spnas.NewRuntime(sr)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// The latency predictor fits LUT sums of random architectures closely, and
// the band search returns picks whose predicted latency is within the band.
func TestBandSearchOnLUT(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	enc, _ := NewArchEncoding(s)
	rt := syntheticRuntime(t, s)
	archs, ms, err := LatencySamples(enc, rt, 400, 1)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := ArchTable("lat", archs, map[string][]float64{LatencyColumn: ms})
	if err != nil {
		t.Fatal(err)
	}
	lat, err := FitModel(SpaceLatencySet(s), tab, FitOptions{OLSOptions: OLSOptions{DropCollinear: true}, Folds: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if lat.Model.CV.R2 < 0.95 {
		t.Errorf("latency predictor CV R2 %.3f on a MACs-proportional table", lat.Model.CV.R2)
	}
	// A synthetic accuracy: more MACs, more accuracy (so the search must
	// push against the upper edge of the band).
	acc := make([]float64, len(archs))
	for i, a := range archs {
		acc[i] = 80 + float64(a.MACs())/2e5
	}
	atab, err := ArchTable("acc", archs, map[string][]float64{AccuracyColumn: acc})
	if err != nil {
		t.Fatal(err)
	}
	am, err := FitModel(SpaceAccuracySet(s), atab, FitOptions{OLSOptions: OLSOptions{DropCollinear: true}})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := rt.Range()
	target := lo + 0.4*(hi-lo)
	p, err := enc.BandProblem(am.Model, lat.Model, target, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Anneal(p, Config{Steps: 800, Restarts: 2, TopK: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	picks, err := enc.RankPicks(res, am.Model, lat.Model, rt, target, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(picks) == 0 {
		t.Fatal("no picks")
	}
	for _, pk := range picks {
		if d := pk.PredictedMS/target - 1; d > 0.05+1e-9 || d < -0.05-1e-9 {
			t.Errorf("pick %s predicted %.4f ms, outside 5%% of %.4f", pk.Arch, pk.PredictedMS, target)
		}
	}
	if !picks[0].WithinTable {
		t.Errorf("first pick %s table %.4f ms outside 5%% of %.4f although the predictor is good", picks[0].Arch, picks[0].TableMS, target)
	}
	// The pick is the best the predictor knows within the band, so at least
	// as good as every random sample in the band.
	for i, a := range archs {
		if d := ms[i]/target - 1; d < -0.03 || d > 0.03 {
			continue
		}
		b, _ := BaseFeatures(a)
		pred, _ := am.Model.Predict(b)
		if pred > picks[0].PredictedAcc+1e-6 {
			t.Errorf("random %s predicts %.3f > pick %.3f within the band", a, pred, picks[0].PredictedAcc)
		}
	}
	if _, err := enc.BandProblem(am.Model, lat.Model, 0, 0.05); err == nil {
		t.Error("zero target accepted")
	}
	if _, err := ArchTable("x", archs[:2], map[string][]float64{"y": {1}}); err == nil {
		t.Error("short column accepted")
	}
}
