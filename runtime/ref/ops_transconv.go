package ref

import (
	"errors"
	"fmt"

	"edgenas/tflite"
)

// transposeConv is TRANSPOSE_CONV (inputs: output shape, filter
// [OC, KH, KW, IC], input, optional bias). Each input pixel scatters its
// products into the output window it maps to, as reference_ops and
// reference_integer_ops::TransposeConv do: into an int32 accumulator for
// int8 (input offset applied, symmetric filter), requantized per output
// channel after adding the bias; in float32 otherwise.
type transposeConv struct {
	in, out                    int
	n, ih, iw, ic, oh, ow, oc  int
	kh, kw, sh, sw, padT, padL int
	int8                       bool
	wI                         []int8
	wF                         []float32
	biasI                      []int32
	biasF                      []float32
	zpIn, zpOut                int32
	mult                       []int32
	shift                      []int
	actLoI, actHiI             int32
	actLoF, actHiF             float32
	accI                       []int32
	accF                       []float32
}

func newTransposeConv(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(3); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.TransposeConvOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *TransposeConvOptions", o.Options)
	}
	f, in, out := t.in(1), t.in(2), t.out()
	if len(f.Shape) != 4 || len(in.Shape) != 4 || len(out.Shape) != 4 {
		return nil, fmt.Errorf("filter %v, input %v and output %v must be 4-D", f.Shape, in.Shape, out.Shape)
	}
	if !f.IsConst() {
		return nil, errors.New("filter must be constant")
	}
	shape, err := constInts(t.in(0), "output shape")
	if err != nil {
		return nil, err
	}
	for i, d := range shape {
		if i >= len(out.Shape) || int(out.Shape[i]) != d || len(shape) != 4 {
			return nil, fmt.Errorf("output shape input %v differs from the output tensor %v", shape, out.Shape)
		}
	}
	if opts.StrideH < 1 || opts.StrideW < 1 {
		return nil, fmt.Errorf("stride %dx%d", opts.StrideH, opts.StrideW)
	}
	k := &transposeConv{in: t.inIdx(2), out: t.outIdx(),
		n: int(in.Shape[0]), ih: int(in.Shape[1]), iw: int(in.Shape[2]), ic: int(in.Shape[3]),
		oh: int(out.Shape[1]), ow: int(out.Shape[2]), oc: int(out.Shape[3]),
		kh: int(f.Shape[1]), kw: int(f.Shape[2]), sh: int(opts.StrideH), sw: int(opts.StrideW)}
	if int(f.Shape[0]) != k.oc || int(f.Shape[3]) != k.ic || out.Shape[0] != in.Shape[0] {
		return nil, fmt.Errorf("filter %v does not match input %v and output %v", f.Shape, in.Shape, out.Shape)
	}
	// transpose_conv.cc pads as the convolution that maps output to input.
	wantH := tflite.ConvOutputSize(k.oh, k.kh, k.sh, 1, opts.Padding)
	wantW := tflite.ConvOutputSize(k.ow, k.kw, k.sw, 1, opts.Padding)
	if wantH != k.ih || wantW != k.iw {
		return nil, fmt.Errorf("input %v does not match output %v with %dx%d filter stride %dx%d %v", in.Shape, out.Shape, k.kh, k.kw, k.sh, k.sw, opts.Padding)
	}
	k.padT, _ = tflite.ComputePadding(k.oh, k.kh, k.sh, 1, opts.Padding)
	k.padL, _ = tflite.ComputePadding(k.ow, k.kw, k.sw, 1, opts.Padding)
	size := k.n * k.oh * k.ow * k.oc
	switch {
	case in.Type == tflite.Float32 && f.Type == tflite.Float32 && out.Type == tflite.Float32:
		if k.actLoF, k.actHiF, err = activationRangeFloat(opts.Activation); err != nil {
			return nil, err
		}
		bias, err := biasData(t.in(3), k.oc, tflite.Float32)
		if err != nil {
			return nil, err
		}
		k.wF, k.biasF, k.accF = decodeFloat32s(f.Data), make([]float32, k.oc), make([]float32, size)
		if bias != nil {
			k.biasF = decodeFloat32s(bias)
		}
		return k, nil
	case in.Type == tflite.Int8 && f.Type == tflite.Int8 && out.Type == tflite.Int8:
		return k.prepareInt8(t, opts, size)
	}
	return nil, fmt.Errorf("input %v, filter %v, output %v: supported are all float32 or all int8", in.Type, f.Type, out.Type)
}

func (k *transposeConv) prepareInt8(t opTensors, opts *tflite.TransposeConvOptions, size int) (Kernel, error) {
	f, in, out := t.in(1), t.in(2), t.out()
	inS, inZ, outS, outZ, err := ioQuant(in, out)
	if err != nil {
		return nil, err
	}
	ws, err := channelScales(f, k.oc, 0, "filter")
	if err != nil {
		return nil, err
	}
	if k.actLoI, k.actHiI, err = activationRangeQuantized(opts.Activation, outS, outZ); err != nil {
		return nil, err
	}
	bias, err := biasData(t.in(3), k.oc, tflite.Int32)
	if err != nil {
		return nil, err
	}
	k.int8, k.zpIn, k.zpOut = true, inZ, outZ
	k.wI, k.biasI, k.accI = append([]int8(nil), i8(f.Data)...), make([]int32, k.oc), make([]int32, size)
	if bias != nil {
		k.biasI = decodeInt32s(bias)
	}
	k.mult, k.shift = perChannelMultipliers(inS, ws, outS)
	return k, nil
}

// scatter calls add(outIndex, inIndex, filterIndex) for every product of
// the transposed convolution that lands inside the output.
func (k *transposeConv) scatter(add func(o, i, w int)) {
	for b := range k.n {
		for iy := range k.ih {
			for ix := range k.iw {
				i := ((b*k.ih+iy)*k.iw + ix) * k.ic
				for fy := range k.kh {
					oy := iy*k.sh - k.padT + fy
					if oy < 0 || oy >= k.oh {
						continue
					}
					for fx := range k.kw {
						ox := ix*k.sw - k.padL + fx
						if ox < 0 || ox >= k.ow {
							continue
						}
						o := ((b*k.oh+oy)*k.ow + ox) * k.oc
						for oc := range k.oc {
							add(o+oc, i, ((oc*k.kh+fy)*k.kw+fx)*k.ic)
						}
					}
				}
			}
		}
	}
}

func (k *transposeConv) Eval(bufs [][]byte) error {
	nIn, nOut := k.n*k.ih*k.iw*k.ic, len(k.accI)+len(k.accF)
	if k.int8 {
		x, err := i8buf(bufs, k.in, nIn)
		if err != nil {
			return err
		}
		y, err := i8buf(bufs, k.out, nOut)
		if err != nil {
			return err
		}
		clear(k.accI)
		k.scatter(func(o, i, w int) {
			var s int32
			for c := range k.ic {
				s += (int32(x[i+c]) - k.zpIn) * int32(k.wI[w+c])
			}
			k.accI[o] += s
		})
		for o, acc := range k.accI {
			oc := o % k.oc
			y[o] = requant(acc+k.biasI[oc], k.mult[oc], k.shift[oc], k.zpOut, k.actLoI, k.actHiI)
		}
		return nil
	}
	x, err := f32buf(bufs, k.in, nIn)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, k.out, nOut)
	if err != nil {
		return err
	}
	clear(k.accF)
	k.scatter(func(o, i, w int) {
		var s float32
		for c := range k.ic {
			s += x[i+c] * k.wF[w+c]
		}
		k.accF[o] += s
	})
	for o, acc := range k.accF {
		y[o] = clampF(acc+k.biasF[o%k.oc], k.actLoF, k.actHiF)
	}
	return nil
}
