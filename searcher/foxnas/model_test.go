package foxnas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelSaveLoad(t *testing.T) {
	csv := "latency,acc,a,b\n1,70,0,1\n3,71,1,0\n6,72,2,2\n7.5,73,3,1\n11,74,4,3\n2.5,70,1,2\n9,72,3,3\n4,71,2,0\n"
	tab, err := ReadCSV(strings.NewReader(csv), "small")
	if err != nil {
		t.Fatal(err)
	}
	fs := FeatureSet{Name: "small", Target: "latency", Unit: "ms", Terms: []Term{
		{Name: "a", Factors: []string{"a"}, Per: "unit of a"},
		{Name: "a:b", Factors: []string{"a", "b"}, Per: "unit of a x b"},
	}}
	res, err := FitModel(fs, tab, FitOptions{Folds: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Model
	if !strings.HasPrefix(m.Coefficients[1].Meaning, "+") || !strings.HasSuffix(m.Coefficients[1].Meaning, " ms per unit of a") {
		t.Errorf("meaning %q", m.Coefficients[1].Meaning)
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := SaveModels(path, []*Model{m}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModels(path)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]float64{"a": 2.5, "b": 1.5}
	p1, err1 := m.Predict(base)
	p2, err2 := got[0].Predict(base)
	if err1 != nil || err2 != nil || p1 != p2 || got[0].CV.R2 != m.CV.R2 || got[0].Coefficients[2].StdErr != m.Coefficients[2].StdErr {
		t.Errorf("round trip: %v %v, %v %v", p1, err1, p2, err2)
	}
	if _, err := m.Predict(map[string]float64{"a": 1}); err == nil || !strings.Contains(err.Error(), `term a:b: no base feature "b"`) {
		t.Errorf("missing base feature: err = %v", err)
	}

	bad := []struct{ name, body, want string }{
		{"not json", "{", "not a predictors file"},
		{"format", `{"format":"x","models":[]}`, `format "x"`},
		{"empty", `{"format":"edgenas-foxnas-predictors/1","models":[]}`, "no models"},
		{"unknown field", `{"format":"edgenas-foxnas-predictors/1","models":[],"extra":1}`, "unknown field"},
		{"coef count", `{"format":"edgenas-foxnas-predictors/1","models":[{"feature_set":{"name":"f","terms":[{"name":"a","factors":["a"]}]},"coefficients":[]}]}`,
			`model "f": 0 coefficients for 1 terms`},
	}
	for _, tc := range bad {
		p := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(p, []byte(tc.body), 0o644)
		if _, err := LoadModels(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
