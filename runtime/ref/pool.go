package ref

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

type avgPoolInt8 struct {
	w            window
	in, out      int
	actLo, actHi int32
}

type avgPoolFloat struct {
	w            window
	in, out      int
	actLo, actHi float32
}

// poolWindow checks a pooling operator's input, options and output and
// returns its window.
func poolWindow(t opTensors) (window, *tflite.Pool2DOptions, error) {
	if err := t.need(1); err != nil {
		return window{}, nil, err
	}
	opts, ok := t.o.Options.(*tflite.Pool2DOptions)
	if !ok || opts == nil {
		return window{}, nil, fmt.Errorf("options %T, want *Pool2DOptions", t.o.Options)
	}
	in, out := t.in(0), t.out()
	w, err := newWindow(in.Shape, out.Shape, int(opts.FilterHeight), int(opts.FilterWidth),
		int(opts.StrideH), int(opts.StrideW), 1, 1, opts.Padding)
	if err != nil {
		return window{}, nil, err
	}
	if w.oc != w.ic {
		return window{}, nil, fmt.Errorf("output channels %d differ from input channels %d", w.oc, w.ic)
	}
	if w.kh < 1 || w.kw < 1 {
		return window{}, nil, fmt.Errorf("filter %dx%d", w.kh, w.kw)
	}
	return w, opts, nil
}

func newAvgPool(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	w, opts, err := poolWindow(t)
	if err != nil {
		return nil, err
	}
	in, out := t.in(0), t.out()
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		lo, hi, err := activationRangeFloat(opts.Activation)
		if err != nil {
			return nil, err
		}
		return &avgPoolFloat{w: w, in: t.inIdx(0), out: t.outIdx(), actLo: lo, actHi: hi}, nil
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		// pooling.cc requires the output to share the input's parameters:
		// the kernel averages raw values.
		if math.Abs(float64(inS)-float64(outS)) > 1e-6 || inZ != outZ {
			return nil, fmt.Errorf("input scale/zero point %v/%d differ from output %v/%d", inS, inZ, outS, outZ)
		}
		lo, hi, err := activationRangeQuantized(opts.Activation, outS, outZ)
		if err != nil {
			return nil, err
		}
		return &avgPoolInt8{w: w, in: t.inIdx(0), out: t.outIdx(), actLo: lo, actHi: hi}, nil
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

// bounds clips a pooling window at (oy, ox) to the input, as the reference
// kernels do.
func (w *window) bounds(oy, ox int) (y0, y1, x0, x1 int) {
	iy := oy*w.sh - w.padT
	ix := ox*w.sw - w.padL
	return max(0, -iy) + iy, min(w.kh, w.ih-iy) + iy, max(0, -ix) + ix, min(w.kw, w.iw-ix) + ix
}

func (p *avgPoolInt8) Eval(bufs [][]byte) error {
	w := &p.w
	x, err := i8buf(bufs, p.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, p.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				y0, y1, x0, x1 := w.bounds(oy, ox)
				count := int32((y1 - y0) * (x1 - x0))
				if count <= 0 {
					return fmt.Errorf("pooling window at (%d, %d) lies outside the input", oy, ox)
				}
				for c := range w.ic {
					var acc int32
					for iy := y0; iy < y1; iy++ {
						off := ((b*w.ih+iy)*w.iw)*w.ic + c
						for ix := x0; ix < x1; ix++ {
							acc += int32(x[off+ix*w.ic])
						}
					}
					// Round to nearest, ties away from zero (integer_ops/pooling.h).
					if acc > 0 {
						acc = (acc + count/2) / count
					} else {
						acc = (acc - count/2) / count
					}
					y[yo+c] = int8(min(max(acc, p.actLo), p.actHi))
				}
				yo += w.oc
			}
		}
	}
	return nil
}

func (p *avgPoolFloat) Eval(bufs [][]byte) error {
	w := &p.w
	x, err := f32buf(bufs, p.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, p.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				y0, y1, x0, x1 := w.bounds(oy, ox)
				count := float32((y1 - y0) * (x1 - x0))
				if count <= 0 {
					return fmt.Errorf("pooling window at (%d, %d) lies outside the input", oy, ox)
				}
				for c := range w.ic {
					var acc float32
					for iy := y0; iy < y1; iy++ {
						off := ((b*w.ih+iy)*w.iw)*w.ic + c
						for ix := x0; ix < x1; ix++ {
							acc += x[off+ix*w.ic]
						}
					}
					y[yo+c] = clampF(acc/count, p.actLo, p.actHi)
				}
				yo += w.oc
			}
		}
	}
	return nil
}

// mean reduces over a set of axes. The int8 kernel follows reduce.cc's
// reference path: a 4-D input reduced over H and W with keep_dims uses
// reference_integer_ops::Mean (sum of x-zp, requantized with in/out scale,
// then divided by the count rounding half away from zero); other axes use
// the truncating integer mean when input and output share parameters and
// QuantizedMeanOrSum's float computation otherwise.
type mean struct {
	in, out   int
	inShape   [maxRank]int
	rank      int
	reduced   [maxRank]bool
	oStride   [maxRank]int // output stride of each input dimension (0 if reduced)
	nIn, nOut int
	count     int
	float     bool
	hw        bool // the 4-D H,W keep_dims int8 special case
	// int8 parameters
	zpIn, zpOut int32
	mult        int32
	shift       int
	inScale     float32
	outScale    float32
	sameQuant   bool
	sumI        []int32
	sumF        []float32
}

func newMean(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.ReducerOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *ReducerOptions", o.Options)
	}
	in, out := t.in(0), t.out()
	axes, err := constInts(t.in(1), "axis")
	if err != nil {
		return nil, err
	}
	r := len(in.Shape)
	if r > maxRank {
		return nil, fmt.Errorf("input rank %d above %d", r, maxRank)
	}
	k := &mean{in: t.inIdx(0), out: t.outIdx(), rank: r, nIn: in.NumElements(), nOut: out.NumElements()}
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r {
			return nil, fmt.Errorf("axis %d out of range for rank %d", a, r)
		}
		k.reduced[a] = true
	}
	var want []int32
	k.count = 1
	stride := 1
	for d := r - 1; d >= 0; d-- {
		k.inShape[d] = int(in.Shape[d])
		if k.reduced[d] {
			k.count *= int(in.Shape[d])
			continue
		}
		k.oStride[d] = stride
		stride *= int(in.Shape[d])
	}
	for d := range r {
		switch {
		case !k.reduced[d]:
			want = append(want, in.Shape[d])
		case opts.KeepDims:
			want = append(want, 1)
		}
	}
	if !sameShape(want, out.Shape) {
		return nil, fmt.Errorf("output shape %v, want %v", out.Shape, want)
	}
	if k.count == 0 {
		return nil, fmt.Errorf("reducing %v over empty axes", in.Shape)
	}
	k.hw = opts.KeepDims && r == 4 && len(axes) == 2 && k.reduced[1] && k.reduced[2] && !k.reduced[0] && !k.reduced[3]
	switch {
	case in.Type == tflite.Float32 && out.Type == tflite.Float32:
		k.float = true
		k.sumF = make([]float32, k.nOut)
		return k, nil
	case in.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		k.zpIn, k.zpOut, k.inScale, k.outScale = inZ, outZ, inS, outS
		k.mult, k.shift = QuantizeMultiplier(float64(inS) / float64(outS))
		k.sameQuant = inS == outS && inZ == outZ
		k.sumI = make([]int32, k.nOut)
		return k, nil
	}
	return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
}

func (k *mean) Eval(bufs [][]byte) error {
	if k.float {
		x, err := f32buf(bufs, k.in, k.nIn)
		if err != nil {
			return err
		}
		y, err := f32buf(bufs, k.out, k.nOut)
		if err != nil {
			return err
		}
		clear(k.sumF)
		k.walk(func(i, o int) { k.sumF[o] += x[i] })
		for o, s := range k.sumF {
			y[o] = s / float32(k.count)
		}
		return nil
	}
	x, err := i8buf(bufs, k.in, k.nIn)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, k.out, k.nOut)
	if err != nil {
		return err
	}
	clear(k.sumI)
	if k.hw {
		k.walk(func(i, o int) { k.sumI[o] += int32(x[i]) - k.zpIn })
		n := int32(k.count)
		for o, acc := range k.sumI {
			acc = MultiplyByQuantizedMultiplier(acc, k.mult, k.shift)
			if acc > 0 {
				acc = (acc + n/2) / n
			} else {
				acc = (acc - n/2) / n
			}
			y[o] = int8(min(max(acc+k.zpOut, math.MinInt8), math.MaxInt8))
		}
		return nil
	}
	k.walk(func(i, o int) { k.sumI[o] += int32(x[i]) })
	if k.sameQuant {
		for o, s := range k.sumI {
			y[o] = int8(s / int32(k.count))
		}
		return nil
	}
	// QuantizedMeanOrSum: float arithmetic, including its +0.5 bias ahead
	// of rounding.
	scale := k.inScale / k.outScale
	bias := -float32(k.zpIn)*scale + 0.5
	for o, s := range k.sumI {
		fm := float32(s) / float32(k.count)
		r := roundHalfAway32(fm*scale+bias) + float32(k.zpOut)
		r = min(max(r, math.MinInt8), math.MaxInt8)
		y[o] = int8(r)
	}
	return nil
}

// walk calls f(inputIndex, outputIndex) for every input element.
func (k *mean) walk(f func(i, o int)) {
	if k.rank == 0 {
		if k.nIn > 0 {
			f(0, 0)
		}
		return
	}
	var idx [maxRank]int
	o := 0
	last := k.rank - 1
	for i := range k.nIn {
		f(i, o)
		for d := last; d >= 0; d-- {
			idx[d]++
			o += k.oStride[d]
			if idx[d] < k.inShape[d] {
				break
			}
			o -= idx[d] * k.oStride[d]
			idx[d] = 0
		}
	}
}
