package foxnas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"edgenas/internal/atomicfile"
)

// Coefficient is a fitted coefficient with its reading.
type Coefficient struct {
	Coef
	Per     string `json:"per,omitempty"`
	Meaning string `json:"meaning"`
}

// Model is a fitted predictor, self-contained so it can be saved, shown and
// used to score architectures without the data it came from.
type Model struct {
	FeatureSet FeatureSet `json:"feature_set"`
	Source     string     `json:"source,omitempty"`
	// Coefficients holds the intercept first, then one per term.
	Coefficients []Coefficient `json:"coefficients"`
	Dropped      []Collinear   `json:"dropped,omitempty"`
	FitStats
	CV *CV `json:"cv,omitempty"`
}

// FitOptions tunes FitModel.
type FitOptions struct {
	OLSOptions
	// Folds for cross-validation; 0 skips it.
	Folds int
	Seed  uint64
}

// FitResult is a model plus the per-row figures a plot needs.
type FitResult struct {
	Model       *Model
	Actual      []float64
	Fitted      []float64
	CVPredicted []float64 // nil without cross-validation
}

// FitModel fits a feature set on a table and, if asked, cross-validates it.
func FitModel(fs FeatureSet, t *Table, opt FitOptions) (*FitResult, error) {
	x, y, err := fs.Design(t)
	if err != nil {
		return nil, err
	}
	names := fs.Names()
	f, err := OLS(x, y, names, opt.OLSOptions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fs.Name, err)
	}
	m := &Model{FeatureSet: fs, Source: t.Name, Dropped: f.Dropped, FitStats: f.FitStats}
	for j, c := range f.Coefs {
		per := ""
		if j > 0 {
			per = fs.Terms[j-1].Per
		}
		meaning := Meaning(c.Estimate, fs.Unit, per)
		if c.Dropped {
			meaning = "dropped: collinear with other terms"
		}
		m.Coefficients = append(m.Coefficients, Coefficient{Coef: c, Per: per, Meaning: meaning})
	}
	res := &FitResult{Model: m, Actual: y, Fitted: make([]float64, len(y))}
	for i := range x {
		if res.Fitted[i], err = f.Predict(x[i]); err != nil {
			return nil, err
		}
	}
	if opt.Folds > 0 {
		cv, err := CrossValidate(x, y, names, opt.OLSOptions, opt.Folds, opt.Seed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fs.Name, err)
		}
		m.CV, res.CVPredicted = cv, cv.Predicted
	}
	return res, nil
}

// PredictRow evaluates the model on a row of term values.
func (m *Model) PredictRow(row []float64) (float64, error) {
	if len(row) != len(m.Coefficients)-1 {
		return 0, fmt.Errorf("model %s: %d term values, want %d", m.FeatureSet.Name, len(row), len(m.Coefficients)-1)
	}
	v := m.Coefficients[0].Estimate
	for j, x := range row {
		v += m.Coefficients[j+1].Estimate * x
	}
	return v, nil
}

// Predict evaluates the model from base feature values.
func (m *Model) Predict(base map[string]float64) (float64, error) {
	row, err := m.FeatureSet.Row(base)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", m.FeatureSet.Name, err)
	}
	return m.PredictRow(row)
}

// validate checks a decoded model's internal consistency.
func (m *Model) validate() error {
	if len(m.FeatureSet.Terms) == 0 {
		return fmt.Errorf("model %q has no terms", m.FeatureSet.Name)
	}
	if len(m.Coefficients) != len(m.FeatureSet.Terms)+1 {
		return fmt.Errorf("model %q: %d coefficients for %d terms (want terms+1 with the intercept)",
			m.FeatureSet.Name, len(m.Coefficients), len(m.FeatureSet.Terms))
	}
	for i, t := range m.FeatureSet.Terms {
		if len(t.Factors) == 0 {
			return fmt.Errorf("model %q term %d (%s) has no factors", m.FeatureSet.Name, i, t.Name)
		}
	}
	return nil
}

// ModelFile is the saved form of one or more fitted predictors.
type ModelFile struct {
	Format string   `json:"format"`
	Models []*Model `json:"models"`
}

// modelFormat versions the JSON layout.
const modelFormat = "edgenas-foxnas-predictors/1"

// SaveModels writes models atomically as JSON.
func SaveModels(path string, models []*Model) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ModelFile{Format: modelFormat, Models: models}); err != nil {
		return fmt.Errorf("save predictors %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// LoadModels reads a file written by SaveModels.
func LoadModels(path string) ([]*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var mf ModelFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mf); err != nil {
		return nil, fmt.Errorf("%s: not a predictors file: %w", path, err)
	}
	if mf.Format != modelFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, mf.Format, modelFormat)
	}
	if len(mf.Models) == 0 {
		return nil, fmt.Errorf("%s: no models", path)
	}
	for i, m := range mf.Models {
		if m == nil {
			return nil, fmt.Errorf("%s: model %d is null", path, i)
		}
		if err := m.validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return mf.Models, nil
}
