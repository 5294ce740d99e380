package lut

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"edgenas/space"
)

// calibJSON is a calibration of the synthetic table with the given
// coefficients, followed by tail.
func calibJSON(form, coef, tail string) string {
	features := `["lutsum_ms","const"]`
	if form == FormAffine {
		features = `["lutsum_ms","layers","const"]`
	}
	return `{"form":"` + form + `","features":` + features + `,"coef":` + coef +
		`,"device":"synth","backend":"ref","threads":1,"samples":12,"rmse_ms":0.01,"se_encoding":` + strconv.Itoa(space.SEEncoding) + `}` + tail
}

// A calibration file is validated on read: finite coefficients within the
// documented bounds, known fields only, nothing after the object. Errors
// name the field.
func TestReadCalibratedValidates(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	tb := syntheticTable(t, sp, rand.New(rand.NewPCG(1, 2)))
	tests := []struct {
		name string
		json string
		want string // "" means accepted
	}{
		{name: "good scale", json: calibJSON(FormScale, "[1.2,0.5]", "\n")},
		{name: "good affine", json: calibJSON(FormAffine, "[0.9,0.08,-0.4]", "")},
		{name: "negative slope", json: calibJSON(FormScale, "[-1000,0.5]", ""), want: "coef[0] (lutsum_ms) = -1000 out of 0.01..100"},
		{name: "huge constant", json: calibJSON(FormScale, "[1.2,1e308]", ""), want: "coef[1] (const) = 1e+308 ms out of -1000..1000"},
		{name: "huge per-layer", json: calibJSON(FormAffine, "[1,500,0]", ""), want: "coef[1] (layers) = 500 ms out of -100..100"},
		{name: "overflowing number", json: calibJSON(FormScale, "[1e999,0]", ""), want: "read calibration"},
		{name: "trailing garbage", json: calibJSON(FormScale, "[1.2,0.5]", "garbage"), want: "trailing data after the JSON object"},
		{name: "second object", json: calibJSON(FormScale, "[1.2,0.5]", calibJSON(FormScale, "[-5,0]", "")), want: "trailing data"},
		{name: "unknown field", json: strings.Replace(calibJSON(FormScale, "[1.2,0.5]", ""), `"samples"`, `"slope":-5,"samples"`, 1), want: `unknown field "slope"`},
		{name: "negative rmse", json: strings.Replace(calibJSON(FormScale, "[1.2,0.5]", ""), `"rmse_ms":0.01`, `"rmse_ms":-1`, 1), want: "rmse_ms -1"},
		{name: "too few samples", json: strings.Replace(calibJSON(FormScale, "[1.2,0.5]", ""), `"samples":12`, `"samples":1`, 1), want: "samples 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadCalibrated(strings.NewReader(tc.json), tb)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				p, err := c.Predict(sp.RandomSeed(3))
				if err != nil || !(p.Millis > 0) || math.IsInf(p.Millis, 0) {
					t.Errorf("prediction %v ms, %v", p.Millis, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// ReadCalibratedFile refuses what it cannot safely read.
func TestReadCalibratedFileRefusesSpecialAndHugeFiles(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	tb := syntheticTable(t, sp, rand.New(rand.NewPCG(1, 2)))
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, []byte(strings.Repeat(" ", MaxCalibrationBytes+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{name: "fifo", path: fifo, want: "not a regular file"},
		{name: "huge", path: huge, want: "file too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadCalibratedFile(tc.path, tb); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
