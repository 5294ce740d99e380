package ref

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

// Kernels of common vision and audio models: MAX_POOL_2D, SUB,
// MAXIMUM, MINIMUM. Each follows the int8 path of TFLite's reference kernels
// (kernels/*.cc and internal/reference/integer_ops/*.h).

// maxPool is MAX_POOL_2D: the largest value of each window clipped to the
// input, then the fused activation (integer_ops/pooling.h MaxPool). int8
// output shares the input's parameters (pooling.cc Prepare).
type maxPool struct {
	w              window
	in, out        int
	int8           bool
	actLoI, actHiI int32
	actLoF, actHiF float32
}

func newMaxPool(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	w, opts, err := poolWindow(t)
	if err != nil {
		return nil, err
	}
	in, out := t.in(0), t.out()
	k := &maxPool{w: w, in: t.inIdx(0), out: t.outIdx()}
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		k.actLoF, k.actHiF, err = activationRangeFloat(opts.Activation)
		return k, err
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		if err := sameQuant(in, out); err != nil {
			return nil, err
		}
		s, z, err := quantParams(out, "output")
		if err != nil {
			return nil, err
		}
		k.int8 = true
		k.actLoI, k.actHiI, err = activationRangeQuantized(opts.Activation, s, z)
		return k, err
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

func (p *maxPool) Eval(bufs [][]byte) error {
	w := &p.w
	nIn, nOut := w.n*w.ih*w.iw*w.ic, w.n*w.oh*w.ow*w.oc
	if p.int8 {
		x, err := i8buf(bufs, p.in, nIn)
		if err != nil {
			return err
		}
		y, err := i8buf(bufs, p.out, nOut)
		if err != nil {
			return err
		}
		return p.walk(func(src, dst int, first bool) {
			if v := int32(x[src]); first || v > int32(y[dst]) {
				y[dst] = x[src]
			}
		}, func(dst int) { y[dst] = int8(min(max(int32(y[dst]), p.actLoI), p.actHiI)) })
	}
	x, err := f32buf(bufs, p.in, nIn)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, p.out, nOut)
	if err != nil {
		return err
	}
	return p.walk(func(src, dst int, first bool) {
		if first || x[src] > y[dst] {
			y[dst] = x[src]
		}
	}, func(dst int) { y[dst] = clampF(y[dst], p.actLoF, p.actHiF) })
}

// walk visits every (input element, output element) pair of every clipped
// window, first marking the first element of a window, then finishes each
// output element.
func (p *maxPool) walk(visit func(src, dst int, first bool), finish func(dst int)) error {
	w := &p.w
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				y0, y1, x0, x1 := w.bounds(oy, ox)
				if y1 <= y0 || x1 <= x0 {
					return fmt.Errorf("pooling window at (%d, %d) lies outside the input", oy, ox)
				}
				for c := range w.ic {
					first := true
					for iy := y0; iy < y1; iy++ {
						off := ((b*w.ih+iy)*w.iw)*w.ic + c
						for ix := x0; ix < x1; ix++ {
							visit(off+ix*w.ic, yo+c, first)
							first = false
						}
					}
					finish(yo + c)
				}
				yo += w.oc
			}
		}
	}
	return nil
}

// newSub is SUB. The int8 path is ADD's with input 2's multiplier negated
// (sub.cc PrepareGeneralSubOp with op_sign -1, then the Add kernel).
func newSub(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.SubOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *SubOptions", o.Options)
	}
	a, b, out := t.in(0), t.in(1), t.out()
	if a.Type == tflite.Float32 && b.Type == tflite.Float32 && out.Type == tflite.Float32 {
		return newElementwiseFloat(t, opts.Activation, func(x, y float32) float32 { return x - y })
	}
	add := tflite.Operator{Op: tflite.OpAdd, Inputs: o.Inputs, Outputs: o.Outputs, Options: &tflite.AddOptions{Activation: opts.Activation}}
	k, err := newBinary(m, &add)
	if err != nil {
		return nil, err
	}
	if bk, ok := k.(*binaryInt8); ok {
		bk.multB = -bk.multB
		return bk, nil
	}
	return nil, fmt.Errorf("inputs %v, %v and output %v: supported are all float32 or all int8", a.Type, b.Type, out.Type)
}

// newMaxMin is MAXIMUM or MINIMUM, with broadcasting. As
// maximum_minimum.cc, int8 values are compared as stored: the converter
// gives inputs and output the same parameters, which is checked here.
func newMaxMin(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	a, b, out := t.in(0), t.in(1), t.out()
	isMax := o.Op == tflite.OpMaximum
	switch {
	case a.Type == tflite.Float32 && b.Type == tflite.Float32 && out.Type == tflite.Float32:
		if isMax {
			return newElementwiseFloat(t, tflite.ActNone, func(x, y float32) float32 { return max(x, y) })
		}
		return newElementwiseFloat(t, tflite.ActNone, func(x, y float32) float32 { return min(x, y) })
	case a.Type == tflite.Int8 && b.Type == tflite.Int8 && out.Type == tflite.Int8:
		if err := sameQuant(a, out); err != nil {
			return nil, fmt.Errorf("input 0: %w", err)
		}
		if err := sameQuant(b, out); err != nil {
			return nil, fmt.Errorf("input 1: %w", err)
		}
		bc, err := newBroadcast(a.Shape, b.Shape, out.Shape)
		if err != nil {
			return nil, err
		}
		return &maxMinInt8{a: t.inIdx(0), b: t.inIdx(1), out: t.outIdx(), bc: bc, isMax: isMax}, nil
	}
	return nil, fmt.Errorf("inputs %v, %v and output %v: supported are all float32 or all int8", a.Type, b.Type, out.Type)
}

type maxMinInt8 struct {
	a, b, out int
	bc        broadcast
	isMax     bool
}

func (k *maxMinInt8) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, k.a, k.bc.nA)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, k.b, k.bc.nB)
	if err != nil {
		return err
	}
	z, err := i8buf(bufs, k.out, k.bc.nO)
	if err != nil {
		return err
	}
	sa, sb := k.bc.innerA, k.bc.innerB
	k.bc.each(func(oa, ob, oo int) {
		for i := range k.bc.inner {
			u, v := x[oa+i*sa], y[ob+i*sb]
			if (u > v) == k.isMax {
				z[oo+i] = u
			} else {
				z[oo+i] = v
			}
		}
	})
	return nil
}

// elementwiseFloat applies f with broadcasting, then a fused activation.
type elementwiseFloat struct {
	a, b, out    int
	bc           broadcast
	f            func(x, y float32) float32
	actLo, actHi float32
}

func newElementwiseFloat(t opTensors, act tflite.Activation, f func(x, y float32) float32) (Kernel, error) {
	bc, err := newBroadcast(t.in(0).Shape, t.in(1).Shape, t.out().Shape)
	if err != nil {
		return nil, err
	}
	lo, hi, err := activationRangeFloat(act)
	if err != nil {
		return nil, err
	}
	return &elementwiseFloat{a: t.inIdx(0), b: t.inIdx(1), out: t.outIdx(), bc: bc, f: f, actLo: lo, actHi: hi}, nil
}

func (k *elementwiseFloat) Eval(bufs [][]byte) error {
	x, err := f32buf(bufs, k.a, k.bc.nA)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, k.b, k.bc.nB)
	if err != nil {
		return err
	}
	z, err := f32buf(bufs, k.out, k.bc.nO)
	if err != nil {
		return err
	}
	sa, sb := k.bc.innerA, k.bc.innerB
	k.bc.each(func(oa, ob, oo int) {
		for i := range k.bc.inner {
			v := k.f(x[oa+i*sa], y[ob+i*sb])
			if !math.IsNaN(float64(v)) {
				v = clampF(v, k.actLo, k.actHi)
			}
			z[oo+i] = v
		}
	})
	return nil
}
