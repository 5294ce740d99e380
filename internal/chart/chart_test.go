package chart

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestSavePNGAndSVG(t *testing.T) {
	dir := t.TempDir()
	f := Figure{Title: "predicted vs measured", XLabel: "measured ms", YLabel: "predicted ms",
		Series:   []Series{{Name: "lut sum", X: []float64{1, 2, 3}, Y: []float64{1.1, 1.9, 3.3}}, {Name: "calibrated", X: []float64{1, 2, 3}, Y: []float64{1, 2, 3}}},
		Identity: true, Band: 0.1, HLines: []Ref{{"target", 2}}}
	for _, name := range []string{"a.png", "a.svg"} {
		p := filepath.Join(dir, name)
		if err := f.Save(p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 1000 {
			t.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
		if name == "a.png" && !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("not a PNG")
		}
	}
	if err := f.Save(filepath.Join(dir, "a.jpg")); err == nil {
		t.Errorf("jpg accepted")
	}
	bad := Figure{Series: []Series{{Name: "x", X: []float64{1}, Y: nil}}}
	if err := bad.Save(filepath.Join(dir, "b.png")); err == nil {
		t.Errorf("mismatched series accepted")
	}
}

// Point labels replace the legend: they must match the points one to one,
// and series sharing a colour index save like any other.
func TestSaveLabelsNoLegend(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		labels []string
		err    bool
	}{
		{name: "one label per point", labels: []string{"a", "b"}},
		{name: "no labels", labels: nil},
		{name: "too few labels", labels: []string{"a"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Figure{Title: "ri", NoLegend: true, Series: []Series{
				{Name: "m", X: []float64{1, 2}, Y: []float64{0.5, -0.2}, Labels: tc.labels, Color: 2},
				{X: []float64{1, 1}, Y: []float64{0.1, 0.9}, Line: true, Color: 2},
			}}
			err := f.Save(filepath.Join(dir, "ri.png"))
			if (err != nil) != tc.err {
				t.Errorf("error %v, want error %v", err, tc.err)
			}
		})
	}
}

// The legend gets its own strip right of the plot: a figure with a legend is
// wider by that strip, the strip has ink (the entries), and a figure without
// one keeps the plain 6x4.5 inch size.
func TestLegendBesideThePlot(t *testing.T) {
	dir := t.TempDir()
	series := []Series{{Name: "score of the kept removal", X: []float64{1, 2, 3}, Y: []float64{3, 1, 2}, Line: true}}
	tests := []struct {
		name     string
		noLegend bool
	}{
		{name: "legend", noLegend: false},
		{name: "no legend", noLegend: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".png")
			if err := (Figure{Title: "t", Series: series, NoLegend: tc.noLegend}).Save(p); err != nil {
				t.Fatal(err)
			}
			fh, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			img, err := png.Decode(fh)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			plotPx := float64(b.Dy()) * 6 / 4.5 // the plot keeps its 6:4.5 shape
			if tc.noLegend {
				if d := b.Dx() - int(plotPx); d < -1 || d > 1 {
					t.Fatalf("width %d px, want the plot's %v", b.Dx(), plotPx)
				}
				return
			}
			if b.Dx() < int(plotPx)+50 {
				t.Fatalf("width %d px: no strip beside the %v px plot", b.Dx(), plotPx)
			}
			ink := 0
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := int(plotPx) + 1; x < b.Max.X; x++ {
					if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
						ink++
					}
				}
			}
			if ink < 50 {
				t.Errorf("legend strip has %d dark pixels: legend not drawn there", ink)
			}
		})
	}
}
