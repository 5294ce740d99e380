// Package chart draws the figures people compare results with (predicted vs
// measured scatter plots, search progress curves, accuracy-vs-latency fronts)
// as PNG or SVG files, chosen by the output file's extension.
package chart

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"edgenas/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named set of points.
type Series struct {
	Name string
	X, Y []float64
	// Line joins the points in order instead of drawing markers.
	Line bool
	// Dashed draws the line dashed (targets, reference lines).
	Dashed bool
	// Labels, if set, has one text per point, drawn beside it.
	Labels []string
	// Color picks palette entry Color-1 (0: by the series' position), so
	// several series (points and their error bars) can share a colour.
	Color int
}

// Figure is a titled 2-D plot.
type Figure struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Identity adds the y = x line and, if Band > 0, the lines y = x*(1 +- Band).
	Identity bool
	Band     float64
	// HLine draws horizontal reference lines (e.g. a latency target) with labels.
	HLines []Ref
	// NoLegend leaves the legend out; label points with Series.Labels
	// instead. A legend, when drawn, sits in a strip right of the plot,
	// never over the data.
	NoLegend bool
}

// Ref is a labelled horizontal reference line.
type Ref struct {
	Label string
	Y     float64
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{214, 39, 40, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{255, 127, 14, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
}

// Plot size; a legend adds a strip to the right.
const (
	plotW = 6 * vg.Inch
	plotH = 4.5 * vg.Inch
	// legendGap separates the plot from its legend strip.
	legendGap = 8 * vg.Millimeter
)

// Save renders the figure to path (.png or .svg, written atomically): a
// 6x4.5 inch plot, plus a strip right of it for the legend if it has one.
func (f Figure) Save(path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return fmt.Errorf("chart %s: extension must be .png or .svg", path)
	}
	p, leg, err := f.build(path)
	if err != nil {
		return err
	}
	strip := leg.width()
	c, err := draw.NewFormattedCanvas(plotW+strip, plotH, ext[1:])
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -strip, 0, 0))
	if leg.n > 0 {
		leg.Draw(draw.Crop(dc, plotW+legendGap, 0, 0, -vg.Points(10)))
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := c.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return nil
}

// legend is the figure's legend, drawn outside the plot area.
type legend struct {
	plot.Legend
	n int // entries
}

func (l *legend) add(name string, t plot.Thumbnailer) {
	l.Add(name, t)
	l.n++
}

// width is the strip the legend needs (0 without entries).
func (l *legend) width() vg.Length {
	if l.n == 0 {
		return 0
	}
	r := l.Rectangle(draw.Canvas{})
	return legendGap + r.Max.X - r.Min.X + vg.Points(10)
}

// build lays out the plot (without its legend) and the legend.
func (f Figure) build(path string) (*plot.Plot, *legend, error) {
	p := plot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	leg := &legend{Legend: plot.NewLegend()}
	leg.Top, leg.Left = true, true
	minV, maxV := math.Inf(1), math.Inf(-1)
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i, s := range f.Series {
		if len(s.X) != len(s.Y) {
			return nil, nil, fmt.Errorf("chart %s: series %q has %d x and %d y values", path, s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.X))
		for j := range s.X {
			pts[j].X, pts[j].Y = s.X[j], s.Y[j]
			minV, maxV = math.Min(minV, math.Min(s.X[j], s.Y[j])), math.Max(maxV, math.Max(s.X[j], s.Y[j]))
			minX, maxX = math.Min(minX, s.X[j]), math.Max(maxX, s.X[j])
		}
		c := palette[i%len(palette)]
		if s.Color > 0 {
			c = palette[(s.Color-1)%len(palette)]
		}
		if s.Line {
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, nil, fmt.Errorf("chart %s: %w", path, err)
			}
			l.Color = c
			l.Width = vg.Points(1.5)
			if s.Dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l)
			if s.Name != "" {
				leg.add(s.Name, l)
			}
		} else {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, nil, fmt.Errorf("chart %s: %w", path, err)
			}
			sc.GlyphStyle.Color = c
			sc.GlyphStyle.Radius = vg.Points(2.5)
			sc.GlyphStyle.Shape = glyph(i)
			p.Add(sc)
			if s.Name != "" {
				leg.add(s.Name, sc)
			}
		}
		if err := addLabels(p, pts, s.Labels, c); err != nil {
			return nil, nil, fmt.Errorf("chart %s: series %q: %w", path, s.Name, err)
		}
	}
	f.addRefs(p, leg, [2]float64{minV, maxV}, [2]float64{minX, maxX})
	if f.NoLegend {
		leg = &legend{Legend: plot.NewLegend()}
	}
	return p, leg, nil
}

// addRefs draws the identity line, its band and the horizontal reference
// lines over the data range: values spans x and y, xs spans x.
func (f Figure) addRefs(p *plot.Plot, leg *legend, values, xs [2]float64) {
	minV, maxV, minX, maxX := values[0], values[1], xs[0], xs[1]
	if f.Identity && !math.IsInf(minV, 0) {
		lo, hi := minV*0.95, maxV*1.05
		add := func(name string, k float64, dashed bool) {
			l, _ := plotter.NewLine(plotter.XYs{{X: lo, Y: lo * k}, {X: hi, Y: hi * k}})
			l.Color = color.Gray{120}
			if dashed {
				l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			}
			p.Add(l)
			if name != "" {
				leg.add(name, l)
			}
		}
		add("y = x", 1, false)
		if f.Band > 0 {
			add(fmt.Sprintf("+-%.0f%%", 100*f.Band), 1+f.Band, true)
			add("", 1-f.Band, true)
		}
	}
	for i, r := range f.HLines {
		if math.IsInf(minX, 0) {
			continue
		}
		l, _ := plotter.NewLine(plotter.XYs{{X: minX, Y: r.Y}, {X: maxX, Y: r.Y}})
		l.Color = palette[(len(f.Series)+i)%len(palette)]
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		leg.add(r.Label, l)
	}
}

// addLabels draws labels (one per point, or none) beside the points.
func addLabels(p *plot.Plot, pts plotter.XYs, labels []string, c color.Color) error {
	if len(labels) == 0 {
		return nil
	}
	if len(labels) != len(pts) {
		return fmt.Errorf("%d labels for %d points", len(labels), len(pts))
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Color = c
	}
	l.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(-3)}
	p.Add(l)
	return nil
}

func glyph(i int) draw.GlyphDrawer {
	switch i % 4 {
	case 1:
		return draw.TriangleGlyph{}
	case 2:
		return draw.SquareGlyph{}
	case 3:
		return draw.CrossGlyph{}
	}
	return draw.CircleGlyph{}
}
