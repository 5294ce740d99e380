package ref

import (
	"errors"
	"fmt"
	"math"

	"edgenas/tflite"
)

// Kernels for RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR and TRANSPOSE_CONV,
// after TFLite's reference kernels (reference/resize_bilinear.h,
// resize_nearest_neighbor.h, integer_ops/transpose_conv.h).

// resizeGeom is the shared geometry of the resize kernels.
type resizeGeom struct {
	in, out               int
	n, ih, iw, c, oh, ow  int
	alignCorners, halfPix bool
}

func newResizeGeom(t opTensors) (resizeGeom, error) {
	if err := t.need(2); err != nil {
		return resizeGeom{}, err
	}
	opts, ok := t.o.Options.(*tflite.ResizeOptions)
	if !ok || opts == nil {
		return resizeGeom{}, fmt.Errorf("options %T, want *ResizeOptions", t.o.Options)
	}
	if opts.AlignCorners && opts.HalfPixelCenters {
		return resizeGeom{}, errors.New("align_corners with half_pixel_centers")
	}
	in, out := t.in(0), t.out()
	if len(in.Shape) != 4 || len(out.Shape) != 4 {
		return resizeGeom{}, fmt.Errorf("input %v and output %v must be NHWC", in.Shape, out.Shape)
	}
	size, err := constInts(t.in(1), "size")
	if err != nil {
		return resizeGeom{}, err
	}
	if len(size) != 2 || size[0] != int(out.Shape[1]) || size[1] != int(out.Shape[2]) {
		return resizeGeom{}, fmt.Errorf("size %v does not match output %v", size, out.Shape)
	}
	if in.Shape[0] != out.Shape[0] || in.Shape[3] != out.Shape[3] {
		return resizeGeom{}, fmt.Errorf("input %v and output %v differ in batch or channels", in.Shape, out.Shape)
	}
	if in.Shape[1] < 1 || in.Shape[2] < 1 || out.Shape[1] < 1 || out.Shape[2] < 1 {
		return resizeGeom{}, fmt.Errorf("input %v or output %v has an empty image", in.Shape, out.Shape)
	}
	if in.Type != out.Type {
		return resizeGeom{}, fmt.Errorf("input %v and output %v", in.Type, out.Type)
	}
	if in.Type == tflite.Int8 {
		if err := sameQuant(in, out); err != nil {
			return resizeGeom{}, err
		}
	}
	return resizeGeom{in: t.inIdx(0), out: t.outIdx(), n: int(in.Shape[0]), ih: int(in.Shape[1]), iw: int(in.Shape[2]),
		c: int(in.Shape[3]), oh: int(out.Shape[1]), ow: int(out.Shape[2]),
		alignCorners: opts.AlignCorners, halfPix: opts.HalfPixelCenters}, nil
}

// resizeNearest copies, for every output pixel, its nearest input pixel.
type resizeNearest struct {
	g      resizeGeom
	elem   int
	ys, xs []int // source row and column of each output row and column
}

func newResizeNearest(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	g, err := newResizeGeom(opTensors{m, o})
	if err != nil {
		return nil, err
	}
	elem := m.Tensors[o.Inputs[0]].Type.Size()
	if elem == 0 {
		return nil, fmt.Errorf("type %v not supported", m.Tensors[o.Inputs[0]].Type)
	}
	k := &resizeNearest{g: g, elem: elem, ys: make([]int, g.oh), xs: make([]int, g.ow)}
	for y := range k.ys {
		k.ys[y] = nearest(y, g.ih, g.oh, g.alignCorners, g.halfPix)
	}
	for x := range k.xs {
		k.xs[x] = nearest(x, g.iw, g.ow, g.alignCorners, g.halfPix)
	}
	return k, nil
}

// nearest is GetNearestNeighbor, in float32 as TFLite computes it.
func nearest(v, inSize, outSize int, alignCorners, halfPix bool) int {
	scale := float32(inSize) / float32(outSize)
	if alignCorners && outSize > 1 {
		scale = float32(inSize-1) / float32(outSize-1)
	}
	var offset float32
	if halfPix {
		offset = 0.5
	}
	p := (float32(v) + offset) * scale
	var out int
	if alignCorners {
		out = int(roundHalfAway32(p))
	} else {
		out = int(math.Floor(float64(p)))
	}
	return max(0, min(out, inSize-1))
}

func (k *resizeNearest) Eval(bufs [][]byte) error {
	g, e := &k.g, k.elem
	if err := checkBuf(bufs, g.in, g.n*g.ih*g.iw*g.c*e); err != nil {
		return err
	}
	if err := checkBuf(bufs, g.out, g.n*g.oh*g.ow*g.c*e); err != nil {
		return err
	}
	src, dst := bufs[g.in], bufs[g.out]
	row := g.c * e
	o := 0
	for b := range g.n {
		for _, y := range k.ys {
			for _, x := range k.xs {
				s := ((b*g.ih+y)*g.iw + x) * row
				copy(dst[o:o+row], src[s:s+row])
				o += row
			}
		}
	}
	return nil
}

// resizeBilinear interpolates between the four nearest input pixels: in
// float32 for float tensors, in TFLite's 10-bit fixed point for int8.
type resizeBilinear struct {
	g    resizeGeom
	int8 bool
}

func newResizeBilinear(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	g, err := newResizeGeom(opTensors{m, o})
	if err != nil {
		return nil, err
	}
	switch m.Tensors[o.Inputs[0]].Type {
	case tflite.Float32:
		return &resizeBilinear{g: g}, nil
	case tflite.Int8:
		return &resizeBilinear{g: g, int8: true}, nil
	}
	return nil, fmt.Errorf("type %v: supported are float32 and int8", m.Tensors[o.Inputs[0]].Type)
}

func (k *resizeBilinear) Eval(bufs [][]byte) error {
	g := &k.g
	nIn, nOut := g.n*g.ih*g.iw*g.c, g.n*g.oh*g.ow*g.c
	if k.int8 {
		x, err := i8buf(bufs, g.in, nIn)
		if err != nil {
			return err
		}
		y, err := i8buf(bufs, g.out, nOut)
		if err != nil {
			return err
		}
		k.evalInt8(x, y)
		return nil
	}
	x, err := f32buf(bufs, g.in, nIn)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, g.out, nOut)
	if err != nil {
		return err
	}
	k.evalFloat(x, y)
	return nil
}

func (k *resizeBilinear) evalFloat(x, y []float32) {
	g := &k.g
	hs, ws := float32(g.ih)/float32(g.oh), float32(g.iw)/float32(g.ow)
	if g.alignCorners && g.oh > 1 {
		hs = float32(g.ih-1) / float32(g.oh-1)
	}
	if g.alignCorners && g.ow > 1 {
		ws = float32(g.iw-1) / float32(g.ow-1)
	}
	interp := func(v int, scale float32, size int) (float32, int, int) {
		p := float32(v) * scale
		if g.halfPix {
			p = (float32(v)+0.5)*scale - 0.5
		}
		f := float32(math.Floor(float64(p)))
		return p, max(int(f), 0), min(int(float32(math.Ceil(float64(p)))), size-1)
	}
	at := func(b, yy, xx, c int) float32 { return x[((b*g.ih+yy)*g.iw+xx)*g.c+c] }
	o := 0
	for b := range g.n {
		for oy := range g.oh {
			iy, y0, y1 := interp(oy, hs, g.ih)
			dy := iy - float32(y0)
			for ox := range g.ow {
				ix, x0, x1 := interp(ox, ws, g.iw)
				dx := ix - float32(x0)
				for c := range g.c {
					y[o] = at(b, y0, x0, c)*(1-dy)*(1-dx) + at(b, y1, x0, c)*dy*(1-dx) +
						at(b, y0, x1, c)*(1-dy)*dx + at(b, y1, x1, c)*dy*dx
					o++
				}
			}
		}
	}
}

func (k *resizeBilinear) evalInt8(x, y []int8) {
	g := &k.g
	const one = 1 << 10
	hs := (one*g.ih + g.oh/2) / g.oh
	ws := (one*g.iw + g.ow/2) / g.ow
	if g.alignCorners && g.oh > 1 {
		hs = (one*(g.ih-1) + (g.oh-1)/2) / (g.oh - 1)
	}
	if g.alignCorners && g.ow > 1 {
		ws = (one*(g.iw-1) + (g.ow-1)/2) / (g.ow - 1)
	}
	interp := func(v, scale, size int) (int, int, int) {
		p := v * scale
		if g.halfPix {
			p = v*scale + scale/2 - one/2
		}
		return p, max(p/one, 0), min((p+one-1)/one, size-1)
	}
	at := func(b, yy, xx, c int) int64 { return int64(x[((b*g.ih+yy)*g.iw+xx)*g.c+c]) }
	o := 0
	for b := range g.n {
		for oy := range g.oh {
			iy, y0, y1 := interp(oy, hs, g.ih)
			dy := int64(iy - one*y0)
			for ox := range g.ow {
				ix, x0, x1 := interp(ox, ws, g.iw)
				dx := int64(ix - one*x0)
				for c := range g.c {
					v := at(b, y0, x0, c)*(one-dy)*(one-dx) + at(b, y1, x0, c)*dy*(one-dx) +
						at(b, y0, x1, c)*(one-dy)*dx + at(b, y1, x1, c)*dy*dx
					round := int64(1 << 19)
					if v <= 0 {
						round = -round
					}
					y[o] = int8((v + round) / (1 << 20))
					o++
				}
			}
		}
	}
}
