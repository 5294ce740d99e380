package xnnpack

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

// int8 TRANSPOSE_CONV with a per-channel filter, as TFLite's XNNPACK
// delegate computes it.
//
// Debian's XNNPACK (2022) has no deconvolution with per-channel (qcint8)
// weights, so the operator runs outside the library. TFLite's reference
// kernel requantizes with fixed-point multipliers and two roundings; the
// delegate (newer XNNPACK) scales the int32 accumulator once in fp32 by
// fl(fl(input scale * filter scale[c]) / output scale) and rounds half to
// even, exactly as this XNNPACK does for a per-tensor filter. deconvKernel
// computes that, so the xnnpack backend gives LiteRT's bytes for both.

// deconvKernel runs an int8 per-channel TRANSPOSE_CONV on the tensor arena,
// as a ref.Kernel: int32 accumulators (bias plus the products of the taps
// that land in the output), one fp32 scale per output channel.
type deconvKernel struct {
	in, out                   int
	n, ih, iw, ic, oh, ow, oc int
	kh, kw, sh, sw, pt, pl    int
	w                         []int8 // [oc][kh][kw][ic]
	bias                      []int32
	scale                     []float32
	zi, zo, qmin, qmax        int32
	acc                       []int32
}

// newDeconvKernel builds the kernel for operator op when it is an int8
// TRANSPOSE_CONV with a constant per-channel filter; ok false otherwise
// (the reference kernel then takes it, or explains why not).
func newDeconvKernel(m *tflite.Model, op *tflite.Operator) (k *deconvKernel, ok bool) {
	o, isTC := op.Options.(*tflite.TransposeConvOptions)
	if op.Op != tflite.OpTransposeConv || !isTC || o == nil || len(op.Inputs) < 3 || len(op.Outputs) != 1 {
		return nil, false
	}
	f, x, y := &m.Tensors[op.Inputs[1]], &m.Tensors[op.Inputs[2]], &m.Tensors[op.Outputs[0]]
	if !f.IsConst() || f.Type != tflite.Int8 || f.Quant == nil || !f.Quant.PerChannel() || f.Quant.Axis != 0 ||
		len(f.Shape) != 4 || len(x.Shape) != 4 || len(y.Shape) != 4 || len(f.Data) != f.Bytes() || o.StrideH < 1 || o.StrideW < 1 {
		return nil, false
	}
	k, err := deconvShapes(f.Shape, x.Shape, y.Shape, o)
	if err != nil {
		return nil, false
	}
	si, zi, err1 := perTensorInt8(x)
	so, zo, err2 := perTensorInt8(y)
	qmin, qmax, err3 := activationQRange(o.Activation, so, zo)
	if err1 != nil || err2 != nil || err3 != nil || len(f.Quant.Scale) != k.oc {
		return nil, false
	}
	k.in, k.out, k.zi, k.zo, k.qmin, k.qmax = op.Inputs[2], op.Outputs[0], zi, zo, qmin, qmax
	k.scale = make([]float32, k.oc)
	for c, sw := range f.Quant.Scale {
		if c < len(f.Quant.ZeroPoint) && f.Quant.ZeroPoint[c] != 0 {
			return nil, false
		}
		k.scale[c] = float32(si*sw) / so
	}
	k.w = make([]int8, len(f.Data))
	for i, b := range f.Data {
		k.w[i] = int8(b)
	}
	k.bias = make([]int32, k.oc)
	if len(op.Inputs) > 3 && op.Inputs[3] >= 0 {
		b := &m.Tensors[op.Inputs[3]]
		if !b.IsConst() || b.Type != tflite.Int32 || b.NumElements() != k.oc || len(b.Data) != 4*k.oc {
			return nil, false
		}
		for c := range k.bias {
			d := b.Data[4*c:]
			k.bias[c] = int32(uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24)
		}
	}
	k.acc = make([]int32, k.n*k.oh*k.ow*k.oc)
	return k, true
}

// deconvShapes checks filter [OC,KH,KW,IC], input and output shapes agree
// with the options as TFLite's transpose_conv.cc does, and returns the
// kernel's geometry (padding of the convolution that maps output to input).
func deconvShapes(f, x, y []int32, o *tflite.TransposeConvOptions) (*deconvKernel, error) {
	k := &deconvKernel{n: int(x[0]), ih: int(x[1]), iw: int(x[2]), ic: int(x[3]), oh: int(y[1]), ow: int(y[2]), oc: int(y[3]),
		kh: int(f[1]), kw: int(f[2]), sh: int(o.StrideH), sw: int(o.StrideW)}
	if y[0] != x[0] || int(f[0]) != k.oc || int(f[3]) != k.ic ||
		tflite.ConvOutputSize(k.oh, k.kh, k.sh, 1, o.Padding) != k.ih || tflite.ConvOutputSize(k.ow, k.kw, k.sw, 1, o.Padding) != k.iw {
		return nil, fmt.Errorf("filter %v, input %v and output %v do not match", f, x, y)
	}
	k.pt, _ = tflite.ComputePadding(k.oh, k.kh, k.sh, 1, o.Padding)
	k.pl, _ = tflite.ComputePadding(k.ow, k.kw, k.sw, 1, o.Padding)
	return k, nil
}

// Eval implements ref.Kernel.
func (k *deconvKernel) Eval(bufs [][]byte) error {
	x, y := bufs[k.in], bufs[k.out]
	if len(x) != k.n*k.ih*k.iw*k.ic || len(y) != len(k.acc) {
		return fmt.Errorf("TRANSPOSE_CONV: buffers of %d and %d bytes, want %d and %d", len(x), len(y), k.n*k.ih*k.iw*k.ic, len(k.acc))
	}
	for o := range k.acc {
		k.acc[o] = k.bias[o%k.oc]
	}
	for p := 0; p < k.n*k.ih*k.iw; p++ {
		b, iy, ix := p/(k.ih*k.iw), p/k.iw%k.ih, p%k.iw
		px := x[p*k.ic : (p+1)*k.ic]
		for fy := range k.kh {
			oy := iy*k.sh - k.pt + fy
			for fx := 0; oy >= 0 && oy < k.oh && fx < k.kw; fx++ {
				if ox := ix*k.sw - k.pl + fx; ox >= 0 && ox < k.ow {
					k.tap(px, ((b*k.oh+oy)*k.ow+ox)*k.oc, fy*k.kw+fx)
				}
			}
		}
	}
	for o, a := range k.acc {
		v := math.RoundToEven(float64(float32(a)*k.scale[o%k.oc])) + float64(k.zo)
		y[o] = byte(int8(min(max(v, float64(k.qmin)), float64(k.qmax))))
	}
	return nil
}

// tap adds one filter position's products for input pixel px to the output
// pixel at o.
func (k *deconvKernel) tap(px []byte, o, pos int) {
	for c := range k.oc {
		w := k.w[(c*k.kh*k.kw+pos)*k.ic:][:k.ic]
		var s int32
		for i, v := range px {
			s += (int32(int8(v)) - k.zi) * int32(w[i])
		}
		k.acc[o+c] += s
	}
}
