package ref

import (
	"errors"
	"fmt"
	"math"

	"edgenas/tflite"
)

// window is the geometry of a 2-D sliding window over an NHWC input.
type window struct {
	n, ih, iw, ic  int
	oh, ow, oc     int
	kh, kw         int
	sh, sw, dh, dw int
	padT, padL     int
}

func newWindow(in, out []int32, kh, kw, sh, sw, dh, dw int, pad tflite.Padding) (window, error) {
	if len(in) != 4 || len(out) != 4 {
		return window{}, fmt.Errorf("input rank %d and output rank %d, want 4 (NHWC)", len(in), len(out))
	}
	if sh < 1 || sw < 1 || dh < 1 || dw < 1 {
		return window{}, fmt.Errorf("stride %dx%d, dilation %dx%d", sh, sw, dh, dw)
	}
	if pad != tflite.PaddingSame && pad != tflite.PaddingValid {
		return window{}, fmt.Errorf("padding %v", pad)
	}
	w := window{
		n: int(in[0]), ih: int(in[1]), iw: int(in[2]), ic: int(in[3]),
		oh: int(out[1]), ow: int(out[2]), oc: int(out[3]),
		kh: kh, kw: kw, sh: sh, sw: sw, dh: dh, dw: dw,
	}
	wantH := tflite.ConvOutputSize(w.ih, kh, sh, dh, pad)
	wantW := tflite.ConvOutputSize(w.iw, kw, sw, dw, pad)
	if int(out[0]) != w.n || w.oh != wantH || w.ow != wantW {
		return window{}, fmt.Errorf("output shape %v, input %v with %dx%d window stride %dx%d dilation %dx%d %v gives [%d %d %d ...]",
			out, in, kh, kw, sh, sw, dh, dw, pad, w.n, wantH, wantW)
	}
	w.padT, _ = tflite.ComputePadding(w.ih, kh, sh, dh, pad)
	w.padL, _ = tflite.ComputePadding(w.iw, kw, sw, dw, pad)
	return w, nil
}

// channelScales returns a weight tensor's scale for every output channel.
func channelScales(f *tflite.Tensor, channels int, axis int32, what string) ([]float64, error) {
	q := f.Quant
	if q == nil || len(q.Scale) == 0 {
		return nil, fmt.Errorf("%s %q has no quantization parameters", what, f.Name)
	}
	for i, z := range q.ZeroPoint {
		if z != 0 {
			return nil, fmt.Errorf("%s %q: zero point %d of channel %d, want 0 (symmetric int8 weights)", what, f.Name, z, i)
		}
	}
	out := make([]float64, channels)
	switch len(q.Scale) {
	case 1:
		for i := range out {
			out[i] = float64(q.Scale[0])
		}
	case channels:
		if q.Axis != axis {
			return nil, fmt.Errorf("%s %q: per-channel along dimension %d, want %d", what, f.Name, q.Axis, axis)
		}
		for i := range out {
			out[i] = float64(q.Scale[i])
		}
	default:
		return nil, fmt.Errorf("%s %q: %d scales for %d output channels", what, f.Name, len(q.Scale), channels)
	}
	for i, s := range out {
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%s %q: scale %v of channel %d", what, f.Name, s, i)
		}
	}
	return out, nil
}

// biasData returns an optional constant bias of n elements of type typ.
func biasData(b *tflite.Tensor, n int, typ tflite.TensorType) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	if b.Type != typ {
		return nil, fmt.Errorf("bias %q has type %v, want %v", b.Name, b.Type, typ)
	}
	if !b.IsConst() {
		return nil, fmt.Errorf("bias %q must be constant", b.Name)
	}
	if b.NumElements() != n || len(b.Data) != 4*n {
		return nil, fmt.Errorf("bias %q has %d elements, want %d", b.Name, b.NumElements(), n)
	}
	return b.Data, nil
}

// perChannelMultipliers computes, per output channel, the requantization
// multiplier in*w[c]/out in double precision, as TFLite's
// PopulateConvolutionQuantizationParams.
func perChannelMultipliers(inScale float32, wScales []float64, outScale float32) ([]int32, []int) {
	mult := make([]int32, len(wScales))
	shift := make([]int, len(wScales))
	for c, ws := range wScales {
		mult[c], shift[c] = QuantizeMultiplier(float64(inScale) * ws / float64(outScale))
	}
	return mult, shift
}

// requant maps an int32 accumulator to the int8 output.
func requant(acc, mult int32, shift int, zp, lo, hi int32) int8 {
	v := MultiplyByQuantizedMultiplier(acc, mult, shift) + zp
	return int8(min(max(v, lo), hi))
}

type convInt8 struct {
	w            window
	in, out      int
	weights      []int8 // [oc][kh*kw*ic]
	wsum         []int32
	bias         []int32
	mult         []int32
	shift        []int
	zpIn, zpOut  int32
	actLo, actHi int32
	patch        []int8
	direct       bool // 1x1, stride 1, no padding: the input pixel is the patch
}

type convFloat struct {
	w            window
	in, out      int
	weights      []float32
	bias         []float32
	actLo, actHi float32
	patch        []float32
	direct       bool
}

func newConv(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.Conv2DOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *Conv2DOptions", o.Options)
	}
	in, f, out := t.in(0), t.in(1), t.out()
	if len(f.Shape) != 4 {
		return nil, fmt.Errorf("filter rank %d, want 4", len(f.Shape))
	}
	if !f.IsConst() {
		return nil, errors.New("filter must be constant")
	}
	w, err := newWindow(in.Shape, out.Shape, int(f.Shape[1]), int(f.Shape[2]),
		int(opts.StrideH), int(opts.StrideW), int(opts.DilationH), int(opts.DilationW), opts.Padding)
	if err != nil {
		return nil, err
	}
	if int(f.Shape[0]) != w.oc || int(f.Shape[3]) != w.ic {
		return nil, fmt.Errorf("filter %v does not match input %v and output %v", f.Shape, in.Shape, out.Shape)
	}
	k := w.kh * w.kw * w.ic
	direct := w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.padT == 0 && w.padL == 0
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
		c := &convFloat{w: w, in: t.inIdx(0), out: t.outIdx(), weights: decodeFloat32s(f.Data),
			bias: make([]float32, w.oc), actLo: lo, actHi: hi, patch: make([]float32, k), direct: direct}
		if bias != nil {
			c.bias = decodeFloat32s(bias)
		}
		return c, nil
	case in.Type == tflite.Int8 && f.Type == tflite.Int8 && out.Type == tflite.Int8:
		inS, inZ, outS, outZ, err := ioQuant(in, out)
		if err != nil {
			return nil, err
		}
		ws, err := channelScales(f, w.oc, 0, "filter")
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
		c := &convInt8{w: w, in: t.inIdx(0), out: t.outIdx(), weights: append([]int8(nil), i8(f.Data)...),
			wsum: make([]int32, w.oc), bias: make([]int32, w.oc), zpIn: inZ, zpOut: outZ,
			actLo: lo, actHi: hi, patch: make([]int8, k), direct: direct}
		c.mult, c.shift = perChannelMultipliers(inS, ws, outS)
		if bias != nil {
			c.bias = decodeInt32s(bias)
		}
		for oc := range w.oc {
			var s int32
			for _, v := range c.weights[oc*k : (oc+1)*k] {
				s += int32(v)
			}
			c.wsum[oc] = s
		}
		return c, nil
	}
	return nil, fmt.Errorf("input %v, filter %v, output %v: supported are all float32 or all int8", in.Type, f.Type, out.Type)
}

// fillPatchI8 gathers the receptive field of output pixel (b, oy, ox) into
// patch in [ky][kx][ic] order, padding with pad.
func (w *window) fillPatchI8(x []int8, b, oy, ox int, pad int8, patch []int8) {
	p := 0
	for ky := range w.kh {
		iy := oy*w.sh - w.padT + ky*w.dh
		for kx := range w.kw {
			ix := ox*w.sw - w.padL + kx*w.dw
			dst := patch[p : p+w.ic]
			if iy < 0 || iy >= w.ih || ix < 0 || ix >= w.iw {
				for i := range dst {
					dst[i] = pad
				}
			} else {
				off := ((b*w.ih+iy)*w.iw + ix) * w.ic
				copy(dst, x[off:off+w.ic])
			}
			p += w.ic
		}
	}
}

func (w *window) fillPatchF32(x []float32, b, oy, ox int, patch []float32) {
	p := 0
	for ky := range w.kh {
		iy := oy*w.sh - w.padT + ky*w.dh
		for kx := range w.kw {
			ix := ox*w.sw - w.padL + kx*w.dw
			dst := patch[p : p+w.ic]
			if iy < 0 || iy >= w.ih || ix < 0 || ix >= w.iw {
				clear(dst)
			} else {
				off := ((b*w.ih+iy)*w.iw + ix) * w.ic
				copy(dst, x[off:off+w.ic])
			}
			p += w.ic
		}
	}
}

func (c *convInt8) Eval(bufs [][]byte) error {
	w := &c.w
	x, err := i8buf(bufs, c.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := i8buf(bufs, c.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	k := len(c.patch)
	// The reference skips taps outside the input; padding with the input
	// zero point contributes (zp-zp)*w = 0, the same. Subtracting zp*Σw
	// once per channel equals subtracting zp from every input.
	pad := int8(c.zpIn)
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				patch := c.patch
				if c.direct {
					off := ((b*w.ih+oy)*w.iw + ox) * w.ic
					patch = x[off : off+k]
				} else {
					w.fillPatchI8(x, b, oy, ox, pad, patch)
				}
				out := y[yo : yo+w.oc]
				oc := 0
				for ; oc+4 <= w.oc; oc += 4 {
					a0, a1, a2, a3 := dot4I8(patch, c.weights[oc*k:(oc+4)*k])
					out[oc] = requant(a0-c.zpIn*c.wsum[oc]+c.bias[oc], c.mult[oc], c.shift[oc], c.zpOut, c.actLo, c.actHi)
					out[oc+1] = requant(a1-c.zpIn*c.wsum[oc+1]+c.bias[oc+1], c.mult[oc+1], c.shift[oc+1], c.zpOut, c.actLo, c.actHi)
					out[oc+2] = requant(a2-c.zpIn*c.wsum[oc+2]+c.bias[oc+2], c.mult[oc+2], c.shift[oc+2], c.zpOut, c.actLo, c.actHi)
					out[oc+3] = requant(a3-c.zpIn*c.wsum[oc+3]+c.bias[oc+3], c.mult[oc+3], c.shift[oc+3], c.zpOut, c.actLo, c.actHi)
				}
				for ; oc < w.oc; oc++ {
					acc := dotI8(patch, c.weights[oc*k:(oc+1)*k]) - c.zpIn*c.wsum[oc] + c.bias[oc]
					out[oc] = requant(acc, c.mult[oc], c.shift[oc], c.zpOut, c.actLo, c.actHi)
				}
				yo += w.oc
			}
		}
	}
	return nil
}

func (c *convFloat) Eval(bufs [][]byte) error {
	w := &c.w
	x, err := f32buf(bufs, c.in, w.n*w.ih*w.iw*w.ic)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, c.out, w.n*w.oh*w.ow*w.oc)
	if err != nil {
		return err
	}
	k := len(c.patch)
	yo := 0
	for b := range w.n {
		for oy := range w.oh {
			for ox := range w.ow {
				patch := c.patch
				if c.direct {
					off := ((b*w.ih+oy)*w.iw + ox) * w.ic
					patch = x[off : off+k]
				} else {
					w.fillPatchF32(x, b, oy, ox, patch)
				}
				dotRowsF32(patch, c.weights, c.bias, y[yo:yo+w.oc], c.actLo, c.actHi)
				yo += w.oc
			}
		}
	}
	return nil
}

// dotI8 is Σ a[i]*b[i] in int32.
func dotI8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

// dot4I8 returns the dot products of x with the four consecutive rows of w
// (each len(x) long), loading each x element once.
func dot4I8(x, w []int8) (s0, s1, s2, s3 int32) {
	k := len(x)
	w0, w1, w2, w3 := w[:k], w[k:2*k], w[2*k:3*k], w[3*k:4*k]
	for i, v := range x {
		xv := int32(v)
		s0 += xv * int32(w0[i])
		s1 += xv * int32(w1[i])
		s2 += xv * int32(w2[i])
		s3 += xv * int32(w3[i])
	}
	return
}

// dotRowsF32 sets y[o] = clamp(bias[o] + Σ x[i]*w[o*len(x)+i]) for every
// output o, four outputs at a time so each x element is loaded once per four.
func dotRowsF32(x, w, bias, y []float32, lo, hi float32) {
	k := len(x)
	n := len(y)
	o := 0
	for ; o+4 <= n; o += 4 {
		w0 := w[o*k : o*k+k]
		w1 := w[(o+1)*k : (o+1)*k+k]
		w2 := w[(o+2)*k : (o+2)*k+k]
		w3 := w[(o+3)*k : (o+3)*k+k]
		var s0, s1, s2, s3 float32
		for i, v := range x {
			s0 += v * w0[i]
			s1 += v * w1[i]
			s2 += v * w2[i]
			s3 += v * w3[i]
		}
		y[o] = clampF(s0+bias[o], lo, hi)
		y[o+1] = clampF(s1+bias[o+1], lo, hi)
		y[o+2] = clampF(s2+bias[o+2], lo, hi)
		y[o+3] = clampF(s3+bias[o+3], lo, hi)
	}
	for ; o < n; o++ {
		wo := w[o*k : o*k+k]
		var s float32
		for i, v := range x {
			s += v * wo[i]
		}
		y[o] = clampF(s+bias[o], lo, hi)
	}
}
