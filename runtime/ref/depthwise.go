package ref

import (
	"errors"
	"fmt"

	"edgenas/tflite"
)

type depthwiseInt8 struct {
	w            window
	mult         int // depth multiplier
	in, out      int
	weights      []int8 // [kh][kw][oc]
	bias         []int32
	mults        []int32
	shift        []int
	zpIn, zpOut  int32
	actLo, actHi int32
	acc          []int32
}

type depthwiseFloat struct {
	w            window
	mult         int
	in, out      int
	weights      []float32
	bias         []float32
	actLo, actHi float32
	acc          []float32
}

func newDepthwise(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.DepthwiseConv2DOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *DepthwiseConv2DOptions", o.Options)
	}
	in, f, out := t.in(0), t.in(1), t.out()
	if len(f.Shape) != 4 || f.Shape[0] != 1 {
		return nil, fmt.Errorf("filter shape %v, want [1 KH KW OC]", f.Shape)
	}
	if !f.IsConst() {
		return nil, errors.New("filter must be constant")
	}
	w, err := newWindow(in.Shape, out.Shape, int(f.Shape[1]), int(f.Shape[2]),
		int(opts.StrideH), int(opts.StrideW), int(opts.DilationH), int(opts.DilationW), opts.Padding)
	if err != nil {
		return nil, err
	}
	if w.ic == 0 || w.oc%w.ic != 0 || int(f.Shape[3]) != w.oc {
		return nil, fmt.Errorf("filter %v, input %v, output %v: output channels must be input channels times the depth multiplier", f.Shape, in.Shape, out.Shape)
	}
	dm := w.oc / w.ic
	// TFLite derives the multiplier from the shapes and ignores a mismatching
	// option value written by some converters, so only a zero/negative one
	// would be suspicious; the shapes above are authoritative.
	switch {
	case in.Type == tflite.Float32 && f.Type == tflite.Float32 && out.Type == tflite.Float32:
		lo, hi, err := activationRangeFloat(opts.Activation)
		if err != nil {
			return nil, err
		}
		bias, err := biasData(t.in(2), w.oc, tflite.Float32)
		if err != nil {
			return nil, err
		}
		d := &depthwiseFloat{w: w, mult: dm, in: t.inIdx(0), out: t.outIdx(), weights: decodeFloat32s(f.Data),
			bias: make([]float32, w.oc), actLo: lo, actHi: hi, acc: make([]float32, w.oc)}
		if bias != nil {
			d.bias = decodeFloat32s(bias)
		}
		return d, nil
	case in.Type == tflite.Int8 && f.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		ws, err := channelScales(f, w.oc, 3, "filter")
		if err != nil {
			return nil, err
		}
		lo, hi, err := activationRangeQuantized(opts.Activation, outS, outZ)
		if err != nil {
			return nil, err
		}
		bias, err := biasData(t.in(2), w.oc, tflite.Int32)
		if err != nil {
			return nil, err
		}
		d := &depthwiseInt8{w: w, mult: dm, in: t.inIdx(0), out: t.outIdx(), weights: append([]int8(nil), i8(f.Data)...),
			bias: make([]int32, w.oc), zpIn: inZ, zpOut: outZ, actLo: lo, actHi: hi, acc: make([]int32, w.oc)}
		d.mults, d.shift = perChannelMultipliers(inS, ws, outS)
		if bias != nil {
			d.bias = decodeInt32s(bias)
		}
		return d, nil
	}
	return nil, fmt.Errorf("input %v, filter %v, output %v: supported are all float32 or all int8", in.Type, f.Type, out.Type)
}

func (d *depthwiseInt8) Eval(bufs [][]byte) error {
	w := &d.w
	x, err := i8buf(bufs, d.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, d.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	acc := d.acc
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				copy(acc, d.bias)
				for ky := range w.kh {
					iy := oy*w.sh - w.padT + ky*w.dh
					if iy < 0 || iy >= w.ih {
						continue
					}
					for kx := range w.kw {
						ix := ox*w.sw - w.padL + kx*w.dw
						if ix < 0 || ix >= w.iw {
							continue
						}
						off := ((b*w.ih+iy)*w.iw + ix) * w.ic
						xs := x[off : off+w.ic]
						ws := d.weights[(ky*w.kw+kx)*w.oc : (ky*w.kw+kx+1)*w.oc]
						if d.mult == 1 {
							ws = ws[:len(xs)]
							a := acc[:len(xs)]
							for c, v := range xs {
								a[c] += (int32(v) - d.zpIn) * int32(ws[c])
							}
							continue
						}
						for ic, v := range xs {
							xv := int32(v) - d.zpIn
							base := ic * d.mult
							for m := range d.mult {
								acc[base+m] += xv * int32(ws[base+m])
							}
						}
					}
				}
				out := y[yo : yo+w.oc]
				for oc, a := range acc {
					out[oc] = requant(a, d.mults[oc], d.shift[oc], d.zpOut, d.actLo, d.actHi)
				}
				yo += w.oc
			}
		}
	}
	return nil
}

func (d *depthwiseFloat) Eval(bufs [][]byte) error {
	w := &d.w
	x, err := f32buf(bufs, d.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, d.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	acc := d.acc
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				clear(acc)
				for ky := range w.kh {
					iy := oy*w.sh - w.padT + ky*w.dh
					if iy < 0 || iy >= w.ih {
						continue
					}
					for kx := range w.kw {
						ix := ox*w.sw - w.padL + kx*w.dw
						if ix < 0 || ix >= w.iw {
							continue
						}
						off := ((b*w.ih+iy)*w.iw + ix) * w.ic
						xs := x[off : off+w.ic]
						ws := d.weights[(ky*w.kw+kx)*w.oc : (ky*w.kw+kx+1)*w.oc]
						if d.mult == 1 {
							ws = ws[:len(xs)]
							a := acc[:len(xs)]
							for c, v := range xs {
								a[c] += v * ws[c]
							}
							continue
						}
						for ic, v := range xs {
							base := ic * d.mult
							for m := range d.mult {
								acc[base+m] += v * ws[base+m]
							}
						}
					}
				}
				out := y[yo : yo+w.oc]
				for oc, a := range acc {
					out[oc] = clampF(a+d.bias[oc], d.actLo, d.actHi)
				}
				yo += w.oc
			}
		}
	}
	return nil
}
