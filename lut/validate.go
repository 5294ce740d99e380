package lut

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"edgenas/internal/atomicfile"
	"edgenas/internal/chart"
	"edgenas/profiler"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/space"
	"edgenas/tflite"
)

// ValidateJob describes an honest check of a table: random architectures,
// built and measured end to end with the profiler's protocol, against every
// predictor. The calibrated predictor is fitted on a separate set of
// measured architectures, never on the ones it is scored on.
type ValidateJob struct {
	Space    *space.Space
	Table    *Table
	Backend  runtime.Backend
	Threads  int
	Protocol profiler.Protocol
	// Models is how many architectures are scored; Calib how many more are
	// measured to fit the calibrated predictor (0 skips it).
	Models, Calib int
	Seed          uint64
	// Group is how many models are measured together, interleaved (default 5).
	Group int
	// Progress, if set, is called after each measured group.
	Progress func(done, total int, last string)
	// Timer times the architectures; nil times them here, on Backend.
	Timer ModelTimer
}

// ValidateRow is one scored architecture.
type ValidateRow struct {
	Arch      string             `json:"arch"`
	Calib     bool               `json:"calibration,omitempty"`
	Measured  float64            `json:"measured_ms"`
	CIRel     float64            `json:"ci_rel"`
	Unstable  bool               `json:"unstable,omitempty"`
	Predicted map[string]float64 `json:"predicted_ms"`
}

// ValidateReport is the outcome: per predictor accuracy, and every row.
type ValidateReport struct {
	Space      string      `json:"space"`
	Table      string      `json:"table"`
	Predictors []string    `json:"predictors"`
	Accuracy   []Accuracy  `json:"accuracy"`
	Calibrated *Calibrated `json:"calibrated,omitempty"`
	// Measured says where every row's whole-model time was measured.
	Measured Provenance    `json:"measured"`
	Rows     []ValidateRow `json:"rows"`
}

// Validate runs the job.
func Validate(ctx context.Context, job ValidateJob) (*ValidateReport, error) {
	sum, err := job.start()
	if err != nil {
		return nil, err
	}
	preds := []Predictor{sum}
	if rt, err := NewSpaceRuntime(job.Space, job.Table); err == nil {
		preds = append(preds, rt)
	} else {
		return nil, fmt.Errorf("validate: %w", err)
	}
	// Calibration architectures span the table's range (a uniform draw
	// would fit only the middle); the scored ones are uniform, as users'
	// architectures are, and never the same draw.
	archs, err := SpreadArchs(job.Space, job.Table, job.Calib, job.Seed+1_000_000)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	for i := 0; i < job.Models; i++ {
		archs = append(archs, job.Space.RandomSeed(job.Seed+uint64(i)))
	}
	names := make([]string, len(archs))
	for i, a := range archs {
		names[i] = a.String()
	}
	rows, where, err := job.measureRows(ctx, names, func(k int) (*tflite.Model, error) {
		return quantize.ArchModel(archs[k], profiler.ModelSeed(names[k]))
	})
	if err != nil {
		return nil, err
	}
	rep := &ValidateReport{Space: job.Space.Name, Table: job.Table.String(), Rows: rows, Measured: where}
	if job.Calib > 0 {
		cal, err := NewCalibrated(job.Table, FormAffine)
		if err != nil {
			return nil, err
		}
		cal.setProvenance(where)
		var samples []Sample
		for i := 0; i < job.Calib; i++ {
			samples = append(samples, Sample{Arch: archs[i], Millis: rows[i].Measured})
		}
		if err := cal.Fit(samples); err != nil {
			return nil, fmt.Errorf("validate: fit calibrated predictor on %d models: %w", job.Calib, err)
		}
		rep.Calibrated = cal
		preds = append(preds, cal)
	}
	for _, p := range preds {
		err := rep.score(shortName(p), func(k int) (Prediction, error) { return p.Predict(archs[k]) })
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// score adds predictor name's predictions of every row (predict(k) for row
// k) and its accuracy on the rows not used for calibration.
func (r *ValidateReport) score(name string, predict func(k int) (Prediction, error)) error {
	r.Predictors = append(r.Predictors, name)
	var meas, pr []float64
	for k := range r.Rows {
		pd, err := predict(k)
		if err != nil {
			return fmt.Errorf("validate: %s on %s: %w", name, r.Rows[k].Arch, err)
		}
		r.Rows[k].Predicted[name] = pd.Millis
		if !r.Rows[k].Calib {
			meas = append(meas, r.Rows[k].Measured)
			pr = append(pr, pd.Millis)
		}
	}
	acc, err := Score(name, meas, pr)
	if err != nil {
		return err
	}
	r.Accuracy = append(r.Accuracy, acc)
	return nil
}

func shortName(p Predictor) string {
	switch p.(type) {
	case *LUTPredictor:
		return "lut-sum"
	case *Calibrated:
		return "calibrated"
	}
	return p.Name()
}

// start checks what every validation needs and returns the table's summed
// predictor.
func (job ValidateJob) start() (*LUTPredictor, error) {
	if job.Models < 2 {
		return nil, fmt.Errorf("validate: need at least 2 models, got %d", job.Models)
	}
	return NewLUTPredictor(job.Table)
}

// measureRows times the models names (model k built by build(k)) with the
// job's Timer, or here in interleaved groups of job.Group (0: 5), and
// returns a row per model, the first job.Calib marked as calibration
// models, and where they were timed.
func (job ValidateJob) measureRows(ctx context.Context, names []string, build func(k int) (*tflite.Model, error)) ([]ValidateRow, Provenance, error) {
	var timer ModelTimer = hostTimer{job: job}
	if job.Timer != nil {
		timer = job.Timer
	}
	ms, where, err := timer.TimeModels(ctx, names, build)
	if err != nil {
		return nil, Provenance{}, fmt.Errorf("validate: %w", err)
	}
	if len(ms) != len(names) {
		return nil, Provenance{}, fmt.Errorf("validate: %d measurements for %d models", len(ms), len(names))
	}
	rows := make([]ValidateRow, len(names))
	for k, m := range ms {
		rows[k] = ValidateRow{Arch: names[k], Calib: k < job.Calib, Measured: m.Stats.P50 / 1000,
			CIRel: m.CIRel, Unstable: m.Unstable, Predicted: map[string]float64{}}
	}
	return rows, where, nil
}

// hostTimer times models on this machine in interleaved groups of
// job.Group (0: 5).
type hostTimer struct {
	job ValidateJob
}

func (h hostTimer) TimeModels(ctx context.Context, names []string, build func(i int) (*tflite.Model, error)) ([]profiler.Measurement, Provenance, error) {
	group := h.job.Group
	if group <= 0 {
		group = 5
	}
	out := make([]profiler.Measurement, 0, len(names))
	for start := 0; start < len(names); start += group {
		end := min(start+group, len(names))
		ms, err := measureModels(ctx, h.job.Backend, h.job.Threads, h.job.Protocol, names[start:end],
			func(i int) (*tflite.Model, error) { return build(start + i) })
		if err != nil {
			return nil, Provenance{}, err
		}
		out = append(out, ms...)
		if h.job.Progress != nil {
			h.job.Progress(end, len(names), fmt.Sprintf("%.2f ms", ms[len(ms)-1].Stats.P50/1000))
		}
	}
	return out, HostProvenance(), nil
}

// measureModels builds model i of names with build and measures them all
// together with the profiler's interleaved protocol.
func measureModels(ctx context.Context, b runtime.Backend, threads int, proto profiler.Protocol, names []string,
	build func(i int) (*tflite.Model, error)) ([]profiler.Measurement, error) {
	var its []runtime.Interpreter
	defer func() {
		for _, it := range its {
			it.Close()
		}
	}()
	cands := make([]profiler.Candidate, len(names))
	for i, name := range names {
		m, err := build(i)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		it, err := b.Load(m, runtime.Options{Threads: threads})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		its = append(its, it)
		if err := profiler.FillRandomInputs(it, 1); err != nil {
			return nil, err
		}
		cands[i] = profiler.Candidate{Name: name, Invoke: it.Invoke}
	}
	return profiler.Measure(ctx, cands, proto, b.Name(), threads)
}

// WriteFiles writes rows.csv (one row per architecture, every predictor) and
// scatter.png (predicted vs measured, with the +-10% band) into dir.
func (r *ValidateReport) WriteFiles(dir string) (csvPath, pngPath string, err error) {
	csvPath = filepath.Join(dir, "rows.csv")
	err = atomicfile.Write(csvPath, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		head := []string{"arch", "calibration", "measured_ms", "ci_rel", "unstable"}
		for _, p := range r.Predictors {
			head = append(head, p+"_ms")
		}
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, row := range r.Rows {
			rec := []string{row.Arch, strconv.FormatBool(row.Calib), f64(row.Measured), f64(row.CIRel), strconv.FormatBool(row.Unstable)}
			for _, p := range r.Predictors {
				rec = append(rec, f64(row.Predicted[p]))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return "", "", err
	}
	fig := chart.Figure{Title: fmt.Sprintf("%s: predicted vs measured latency", r.Space),
		XLabel: "measured (ms)", YLabel: "predicted (ms)", Identity: true, Band: 0.10}
	for _, p := range r.Predictors {
		s := chart.Series{Name: p}
		for _, row := range r.Rows {
			if !row.Calib {
				s.X = append(s.X, row.Measured)
				s.Y = append(s.Y, row.Predicted[p])
			}
		}
		fig.Series = append(fig.Series, s)
	}
	pngPath = filepath.Join(dir, "scatter.png")
	if err := fig.Save(pngPath); err != nil {
		return "", "", err
	}
	return csvPath, pngPath, nil
}

func f64(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
