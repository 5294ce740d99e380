package foxnas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"edgenas/dataset/fmnist"
	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
	"edgenas/internal/progress"
	"edgenas/searcher"
	"edgenas/searcher/spnas"
	"edgenas/space"
)

// Files a FOX-NAS search writes into its output directory (and
// searcher.CandidatesFile).
const (
	ArchFile       = "arch.txt"
	PredictorsFile = "predictors.json"
	SamplesFile    = "samples.csv"
	AnnealLogFile  = "anneal.jsonl"
	PlotFile       = "search.png"
	ResultFile     = "result.json"
)

// SearchJob is one FOX-NAS search: train (or reuse) the one-shot supernet,
// evaluate sampled sub-networks, fit the predictors, anneal.
type SearchJob struct {
	RT   *spnas.Runtime // the LUT model: latency samples, table sums
	Data *fmnist.Data
	// OneShot is the supernet recipe; SupernetDir holds (or receives) it.
	OneShot     OneShotConfig
	SupernetDir string
	OutDir      string
	// Samples sub-networks are each scored on all SubnetVal held-out images
	// after recalibrating batch norm on CalibBatches training batches.
	// SubnetVal images are held out of the training files (the last ones,
	// fmnist.Data.Holdout): the supernet trains on the rest, and the test
	// set takes no part. Accuracy differences between sub-networks are a
	// fraction of a point, so the scoring noise (binomial in SubnetVal)
	// decides how much of them the accuracy predictor can learn.
	Samples, SubnetVal, CalibBatches int
	// LatSamples random architectures' table sums train the latency predictor.
	LatSamples int
	Folds      int // cross-validation folds of both predictors
	TargetMS   float64
	Tol        float64
	Seed       uint64
	Anneal     Config
	// Log (may be nil) receives progress lines.
	Log io.Writer
}

// SearchReport is result.json: everything the search did and what it cost.
type SearchReport struct {
	searcher.RunCandidates
	Tol   float64 `json:"tol"`
	Picks []Pick  `json:"picks"`
	// PickWithinTable: the pick's table latency is within Tol of the target.
	PickWithinTable bool         `json:"pick_within_tolerance_table"`
	Supernet        SupernetInfo `json:"supernet"`
	SupernetDir     string       `json:"supernet_dir"`
	// TrainedNow and SampledNow say whether this run trained the supernet
	// and evaluated the sub-networks (false: reused from SupernetDir).
	TrainedNow bool `json:"supernet_trained_in_this_run"`
	SampledNow bool `json:"samples_evaluated_in_this_run"`
	// Stage wall times of this run (0 for reused stages).
	TrainSeconds  float64 `json:"train_seconds"`
	SampleSeconds float64 `json:"sample_seconds"`
	// SampleEvalSeconds is the sub-network evaluation time whenever it ran.
	SampleEvalSeconds float64 `json:"sample_eval_seconds"`
	FitSeconds        float64 `json:"fit_seconds"`
	AnnealSeconds     float64 `json:"anneal_seconds"`
	Samples           int     `json:"samples"`
	// SubnetSplit records which training-file images the supernet trained
	// on (the first OneShot.DataFrac of the train part) and which scored
	// the sub-networks (all of the validation part).
	SubnetSplit  fmnist.Split   `json:"subnet_split"`
	Accuracy     *Model         `json:"-"`
	Latency      *Model         `json:"-"`
	AnnealStats  Stats          `json:"anneal_stats"`
	RestartBest  []float64      `json:"anneal_restart_best"`
	AnnealConfig annealSettings `json:"anneal_config"`
}

type annealSettings struct {
	T0       float64 `json:"t0"`
	Steps    int     `json:"steps"`
	Restarts int     `json:"restarts"`
	TopK     int     `json:"top_k"`
}

// sampleCache is the evaluated sub-networks kept in the supernet directory,
// keyed by how they were drawn and measured, so that a search at another
// target reuses them.
type sampleCache struct {
	Key     string         `json:"key"`
	Seconds float64        `json:"seconds"`
	Samples []SubnetSample `json:"samples"`
}

func (j *SearchJob) validate() error {
	switch {
	case j.RT == nil || j.Data == nil || j.Data.Train == nil || j.Data.Val == nil:
		return fmt.Errorf("foxnas search: no runtime table or data")
	case j.OutDir == "" || j.SupernetDir == "":
		return fmt.Errorf("foxnas search: no output or supernet directory")
	case !(j.TargetMS > 0) || !(j.Tol > 0):
		return fmt.Errorf("foxnas search: target %v ms and tolerance %v must be positive", j.TargetMS, j.Tol)
	case j.SubnetVal <= 0 || j.SubnetVal >= j.Data.Train.Len()+j.Data.Val.Len():
		return fmt.Errorf("foxnas search: %d held-out images for sub-network scoring: want 1 to %d (the training files hold %d)",
			j.SubnetVal, j.Data.Train.Len()+j.Data.Val.Len()-1, j.Data.Train.Len()+j.Data.Val.Len())
	case j.LatSamples <= 0 || j.CalibBatches <= 0:
		return fmt.Errorf("foxnas search: latency samples %d and calibration batches %d must be positive", j.LatSamples, j.CalibBatches)
	case j.Folds < 0 || j.Folds == 1:
		return fmt.Errorf("foxnas search: %d folds: want 0 (none) or at least 2", j.Folds)
	}
	terms := len(SpaceAccuracySet(j.RT.Space).Terms)
	need := MinSamples(terms, j.Folds)
	if j.Samples < need {
		cv := "without cross-validation"
		if j.Folds > 0 {
			cv = fmt.Sprintf("with %d-fold cross-validation", j.Folds)
		}
		return fmt.Errorf("foxnas search: %d samples is too few for the %d-term accuracy predictor %s (need at least %d)", j.Samples, terms, cv, need)
	}
	if lo, hi := j.RT.Range(); j.TargetMS < lo*(1-j.Tol) || j.TargetMS > hi*(1+j.Tol) {
		return fmt.Errorf("foxnas search: target %.3f ms is outside %s's table range %.3f-%.3f ms", j.TargetMS, j.RT.Space.Name, lo, hi)
	}
	return nil
}

// MinSamples is the fewest rows that fit a predictor of terms terms (plus
// intercept) with residual degrees of freedom left, in every training part
// of a folds-fold cross-validation.
func MinSamples(terms, folds int) int {
	p := terms + 1
	if folds < 2 {
		return p + 2
	}
	// n*(folds-1)/folds >= p+2
	return int(math.Ceil(float64((p+2)*folds) / float64(folds-1)))
}

// RunSearch runs a whole FOX-NAS search and writes its files into OutDir.
func RunSearch(ctx context.Context, j SearchJob) (*SearchReport, error) {
	if err := j.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(j.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("foxnas search: %w", err)
	}
	start := time.Now()
	s := j.RT.Space
	rep := &SearchReport{RunCandidates: searcher.RunCandidates{Method: "foxnas", Space: s.Name, TargetMS: j.TargetMS, Seed: j.Seed,
		LatencyModel: j.RT.LatencyModel()},
		Tol: j.Tol, SupernetDir: j.SupernetDir, Samples: j.Samples}

	// 1. The one-shot supernet (trained here unless SupernetDir has it).
	o, data, split, err := j.stage()
	if err != nil {
		return nil, err
	}
	rep.SubnetSplit = split
	bar := progress.New(j.Log, "supernet "+j.SupernetDir, o.Total)
	t0 := time.Now()
	trained := 0
	info, err := TrainSupernet(ctx, o, j.SupernetDir, func(l OneShotLog) {
		if trained == 0 {
			bar.Add(l.Step, "resumed")
		}
		trained++
		bar.Add(1, fmt.Sprintf("loss %.3f acc %.2f %s", l.Loss, l.Acc, l.Arch))
	})
	if err != nil {
		return nil, err
	}
	rep.Supernet, rep.TrainedNow = info, trained > 0
	if rep.TrainedNow {
		rep.TrainSeconds = time.Since(t0).Seconds()
	}

	// 2. Evaluate sampled sub-networks (or reuse the cached evaluation).
	t0 = time.Now()
	samples, sampleSecs, now, err := j.samples(ctx, o, data, split)
	if err != nil {
		return nil, err
	}
	rep.SampledNow, rep.SampleEvalSeconds = now, sampleSecs
	if now {
		rep.SampleSeconds = time.Since(t0).Seconds()
	}

	// 3. Predictors: accuracy on the sub-networks, latency on LUT sums.
	t0 = time.Now()
	archs := make([]space.Arch, len(samples))
	accs := make([]float64, len(samples))
	for i, smp := range samples {
		if archs[i], err = s.Parse(smp.Arch); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		accs[i] = smp.Acc
		if samples[i].TableMS, err = j.RT.Exact(archs[i]); err != nil {
			return nil, err
		}
	}
	opts := FitOptions{OLSOptions: OLSOptions{DropCollinear: true}, Folds: j.Folds, Seed: j.Seed}
	accTab, err := ArchTable(fmt.Sprintf("%d supernet sub-networks (%d held-out images)", len(samples), split.ValCount), archs, map[string][]float64{AccuracyColumn: accs})
	if err != nil {
		return nil, err
	}
	accFit, err := FitModel(SpaceAccuracySet(s), accTab, opts)
	if err != nil {
		return nil, fmt.Errorf("accuracy predictor: %w", err)
	}
	latArchs, latMS, err := LatencySamples(o.Enc, j.RT, j.LatSamples, j.Seed)
	if err != nil {
		return nil, err
	}
	latTab, err := ArchTable(fmt.Sprintf("LUT sums of %d random architectures", j.LatSamples), latArchs, map[string][]float64{LatencyColumn: latMS})
	if err != nil {
		return nil, err
	}
	latFit, err := FitModel(SpaceLatencySet(s), latTab, opts)
	if err != nil {
		return nil, fmt.Errorf("latency predictor: %w", err)
	}
	rep.Accuracy, rep.Latency = accFit.Model, latFit.Model
	if err := SaveModels(filepath.Join(j.OutDir, PredictorsFile), []*Model{latFit.Model, accFit.Model}); err != nil {
		return nil, err
	}
	rep.FitSeconds = time.Since(t0).Seconds()

	// 4. Anneal within the latency band.
	t0 = time.Now()
	p, err := o.Enc.BandProblem(accFit.Model, latFit.Model, j.TargetMS, j.Tol)
	if err != nil {
		return nil, err
	}
	acfg := j.Anneal.withDefaults(len(p.Coords))
	rep.AnnealConfig = annealSettings{T0: acfg.T0, Steps: acfg.Steps, Restarts: acfg.Restarts, TopK: acfg.TopK}
	res, err := j.anneal(p, acfg)
	if err != nil {
		return nil, fmt.Errorf("anneal at %.3f ms +-%.0f%%: %w", j.TargetMS, 100*j.Tol, err)
	}
	picks, err := o.Enc.RankPicks(res, accFit.Model, latFit.Model, j.RT, j.TargetMS, j.Tol)
	if err != nil {
		return nil, err
	}
	if len(picks) == 0 {
		return nil, fmt.Errorf("anneal found no architecture within %.0f%% of %.3f ms", 100*j.Tol, j.TargetMS)
	}
	rep.AnnealSeconds = time.Since(t0).Seconds()
	rep.Picks, rep.PickWithinTable = picks, picks[0].WithinTable
	rep.AnnealStats, rep.RestartBest = res.Stats, res.RestartBest
	for _, pk := range picks {
		rep.Candidates = append(rep.Candidates, searcher.RunCandidate{Arch: pk.Arch, PredictedMS: pk.TableMS})
	}
	// Reused stages (supernet, sample evaluation) took no time here, so the
	// wall time counts them only when this run did them.
	rep.SearchSeconds = time.Since(start).Seconds()
	return rep, j.write(rep, samples, accFit.Fitted, latFit.Model)
}

// stage splits the training files for this search and builds the
// supernet over the train part; the validation part scores sub-networks.
func (j *SearchJob) stage() (*OneShot, *fmnist.Data, fmnist.Split, error) {
	data, split, err := j.Data.Holdout(j.SubnetVal)
	if err != nil {
		return nil, nil, split, fmt.Errorf("foxnas search: %w", err)
	}
	o, err := NewOneShot(j.OneShot, j.RT.Space, data.Train)
	if err != nil {
		return nil, nil, split, err
	}
	return o, data, split, nil
}

// evaluator scores sub-networks of o on data's validation part, with batch
// norm recalibrated on the first batches of its training part.
func (j *SearchJob) evaluator(o *OneShot, data *fmnist.Data) (*SubnetEvaluator, error) {
	return NewSubnetEvaluator(o.Net, data.Train, j.CalibBatches, j.OneShot.Batch, data.Val)
}

func (j *SearchJob) sampleKey(split fmnist.Split) string {
	return fmt.Sprintf("%s:n=%d:seed=%d:val=%d+%d:calib=%dx%d", j.RT.Space.Name, j.Samples, j.Seed, split.ValFirst, split.ValCount, j.CalibBatches, j.OneShot.Batch)
}

// samples evaluates the sub-networks, or loads them from the supernet
// directory when the same draw was evaluated before on this supernet.
func (j *SearchJob) samples(ctx context.Context, o *OneShot, data *fmnist.Data, split fmnist.Split) ([]SubnetSample, float64, bool, error) {
	path := filepath.Join(j.SupernetDir, "samples-cache.json")
	if b, err := os.ReadFile(path); err == nil {
		var c sampleCache
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, 0, false, fmt.Errorf("sample cache %s: %w", path, err)
		}
		if c.Key == j.sampleKey(split) && len(c.Samples) == j.Samples {
			return c.Samples, c.Seconds, false, nil
		}
	}
	ev, err := j.evaluator(o, data)
	if err != nil {
		return nil, 0, false, err
	}
	t0 := time.Now()
	bar := progress.New(j.Log, "sub-networks", j.Samples)
	out, err := SampleSubnets(ctx, ev, o.Enc, j.RT, j.Samples, j.Seed, func(s SubnetSample) {
		bar.Add(1, fmt.Sprintf("%.2f%% %.3f ms %s", s.Acc, s.TableMS, s.Arch))
	})
	if err != nil {
		return nil, 0, false, err
	}
	secs := time.Since(t0).Seconds()
	b, _ := json.MarshalIndent(sampleCache{Key: j.sampleKey(split), Seconds: secs, Samples: out}, "", " ")
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return nil, 0, false, err
	}
	return out, secs, true, nil
}

// anneal runs the annealer, logging every 10th step of each restart (and
// each restart's last) to AnnealLogFile.
func (j *SearchJob) anneal(p Problem, cfg Config) (*Result, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	bar := progress.New(j.Log, "anneal", cfg.Steps*cfg.Restarts)
	var encErr error
	cfg.Trace = func(t TraceStep) {
		bar.Add(1, "")
		if t.Step%10 == 0 || t.Step == cfg.Steps {
			// Cost is |predicted latency / target - 1| (BandProblem).
			if err := enc.Encode(t); err != nil && encErr == nil {
				encErr = err
			}
		}
	}
	res, err := Anneal(p, cfg)
	if err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil || encErr != nil {
		return nil, fmt.Errorf("anneal log: %v %v", err, encErr)
	}
	return res, atomicfile.WriteFile(filepath.Join(j.OutDir, AnnealLogFile), buf.Bytes())
}

// write saves candidates.json, arch.txt, result.json, samples.csv and the plot.
func (j *SearchJob) write(rep *SearchReport, samples []SubnetSample, fitted []float64, lat *Model) error {
	dir := j.OutDir
	if err := searcher.WriteCandidates(dir, rep.RunCandidates); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, ResultFile), rep); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ArchFile), []byte(rep.Picks[0].Arch+"\n")); err != nil {
		return err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"arch", "val_accuracy", "val_loss", "table_ms", "predicted_accuracy", "predictor_ms"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	predMS := make([]float64, len(samples))
	for i, s := range samples {
		a, err := j.RT.Space.Parse(s.Arch)
		if err != nil {
			return err
		}
		b, err := BaseFeatures(a)
		if err != nil {
			return err
		}
		if predMS[i], err = lat.Predict(b); err != nil {
			return err
		}
		_ = cw.Write([]string{s.Arch, f(s.Acc), f(s.Loss), f(s.TableMS), f(fitted[i]), f(predMS[i])})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s: %w", SamplesFile, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, SamplesFile), buf.Bytes()); err != nil {
		return err
	}
	return plotSearch(filepath.Join(dir, PlotFile), rep, samples, fitted)
}

// plotSearch draws accuracy against table latency: the sub-networks'
// supernet accuracy and its prediction, the annealer's top k and the pick.
func plotSearch(path string, rep *SearchReport, samples []SubnetSample, fitted []float64) error {
	var xs, acc []float64
	for _, s := range samples {
		xs = append(xs, s.TableMS)
		acc = append(acc, s.Acc)
	}
	var tx, ty []float64
	for _, p := range rep.Picks[1:] {
		tx = append(tx, p.TableMS)
		ty = append(ty, p.PredictedAcc)
	}
	pick := rep.Picks[0]
	return chart.Figure{
		Title: fmt.Sprintf("FOX-NAS on %s: target %.3g ms +-%.0f%%, pick %.3g ms, predicted %.2f%%",
			rep.Space, rep.TargetMS, 100*rep.Tol, pick.TableMS, pick.PredictedAcc),
		XLabel: "LUT latency (ms)", YLabel: "validation accuracy (%)",
		Series: []chart.Series{
			{Name: "sub-networks: supernet accuracy", X: xs, Y: acc},
			{Name: "sub-networks: predicted", X: xs, Y: fitted},
			{Name: "top-k: predicted", X: tx, Y: ty},
			{Name: "pick: predicted", X: []float64{pick.TableMS}, Y: []float64{pick.PredictedAcc}},
		},
	}.Save(path)
}
