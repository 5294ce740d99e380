package xnnpack

import (
	"encoding/binary"
	"fmt"
	"math"

	"edgenas/tflite"
)

// A float reference for tests: every operator is computed in float64 on the
// dequantized tensors, and every output is quantized with its tensor's
// parameters (so a chain of operators sees the same rounding points as int8
// execution). calibrate uses the same evaluator to choose output scales.

type fval struct {
	shape []int32
	v     []float64
}

func dequant(t *tflite.Tensor, data []byte) []float64 {
	out := make([]float64, t.NumElements())
	q := t.Quant
	for i := range out {
		var raw float64
		switch t.Type {
		case tflite.Int8:
			raw = float64(int8(data[i]))
		case tflite.Int32:
			raw = float64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		case tflite.Float32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
			continue
		}
		if q == nil {
			out[i] = raw
			continue
		}
		c := 0
		if q.PerChannel() {
			c = channelOf(t, i)
		}
		out[i] = float64(q.Scale[c]) * (raw - float64(q.ZeroPoint[min(c, len(q.ZeroPoint)-1)]))
	}
	return out
}

// channelOf is the per-channel index of flat element i (axis 0 or last, or
// the only dimension of a bias).
func channelOf(t *tflite.Tensor, i int) int {
	ax := int(t.Quant.Axis)
	if len(t.Shape) == 1 {
		return i
	}
	stride := 1
	for d := ax + 1; d < len(t.Shape); d++ {
		stride *= int(t.Shape[d])
	}
	return (i / stride) % int(t.Shape[ax])
}

func quantize(t *tflite.Tensor, v []float64) []byte {
	out := make([]byte, len(v))
	s, zp := float64(t.Quant.Scale[0]), float64(t.Quant.ZeroPoint[0])
	for i, x := range v {
		out[i] = byte(int8(math.Max(-128, math.Min(127, math.Round(x/s)+zp))))
	}
	return out
}

func applyAct(v []float64, act tflite.Activation) {
	for i, x := range v {
		switch act {
		case tflite.ActRelu:
			v[i] = math.Max(x, 0)
		case tflite.ActRelu6:
			v[i] = math.Min(math.Max(x, 0), 6)
		case tflite.ActReluN1To1:
			v[i] = math.Min(math.Max(x, -1), 1)
		}
	}
}

// samePad is TensorFlow's SAME padding before the first element.
func samePad(pad tflite.Padding, in, out, k, stride, dil int) int {
	if pad != tflite.PaddingSame {
		return 0
	}
	total := max((out-1)*stride+(k-1)*dil+1-in, 0)
	return total / 2
}

func nz(v int32) int { return max(int(v), 1) }

// evalFloat runs operator op on vals (indexed by tensor) and returns the
// float output before quantization.
func evalFloat(m *tflite.Model, op *tflite.Operator, vals [][]float64) ([]float64, error) {
	in := func(k int) []float64 { return vals[op.Inputs[k]] }
	shape := func(k int) []int32 { return m.Tensors[op.Inputs[k]].Shape }
	os := m.Tensors[op.Outputs[0]].Shape
	out := make([]float64, m.Tensors[op.Outputs[0]].NumElements())
	switch op.Op {
	case tflite.OpConv2D, tflite.OpDepthwiseConv2D:
		is, fs := shape(0), shape(1)
		var pad tflite.Padding
		var sh, sw, dh, dw int
		var act tflite.Activation
		dwc := op.Op == tflite.OpDepthwiseConv2D
		if dwc {
			o := op.Options.(*tflite.DepthwiseConv2DOptions)
			pad, sh, sw, dh, dw, act = o.Padding, nz(o.StrideH), nz(o.StrideW), nz(o.DilationH), nz(o.DilationW), o.Activation
		} else {
			o := op.Options.(*tflite.Conv2DOptions)
			pad, sh, sw, dh, dw, act = o.Padding, nz(o.StrideH), nz(o.StrideW), nz(o.DilationH), nz(o.DilationW), o.Activation
		}
		H, W, C := int(is[1]), int(is[2]), int(is[3])
		KH, KW := int(fs[1]), int(fs[2])
		OH, OW, OC := int(os[1]), int(os[2]), int(os[3])
		pt, pl := samePad(pad, H, OH, KH, sh, dh), samePad(pad, W, OW, KW, sw, dw)
		x, f, bias := in(0), in(1), in(2)
		for n := 0; n < int(is[0]); n++ {
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					for oc := 0; oc < OC; oc++ {
						acc := bias[oc]
						for ky := 0; ky < KH; ky++ {
							for kx := 0; kx < KW; kx++ {
								iy, ix := oy*sh-pt+ky*dh, ox*sw-pl+kx*dw
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								base := ((n*H+iy)*W + ix) * C
								if dwc {
									acc += x[base+oc/(OC/C)] * f[(ky*KW+kx)*OC+oc]
									continue
								}
								for c := 0; c < C; c++ {
									acc += x[base+c] * f[((oc*KH+ky)*KW+kx)*C+c]
								}
							}
						}
						out[((n*OH+oy)*OW+ox)*OC+oc] = acc
					}
				}
			}
		}
		applyAct(out, act)
	case tflite.OpFullyConnected:
		o := op.Options.(*tflite.FullyConnectedOptions)
		x, w := in(0), in(1)
		K, O := int(shape(1)[1]), int(shape(1)[0])
		for b := 0; b < len(x)/K; b++ {
			for j := 0; j < O; j++ {
				acc := 0.0
				if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
					acc = in(2)[j]
				}
				for k := 0; k < K; k++ {
					acc += x[b*K+k] * w[j*K+k]
				}
				out[b*O+j] = acc
			}
		}
		applyAct(out, o.Activation)
	case tflite.OpAdd, tflite.OpMul:
		a, b := in(0), in(1)
		as, bs := shape(0), shape(1)
		for i := range out {
			x, y := a[bcast(i, os, as)], b[bcast(i, os, bs)]
			if op.Op == tflite.OpAdd {
				out[i] = x + y
			} else {
				out[i] = x * y
			}
		}
		var act tflite.Activation
		if o, ok := op.Options.(*tflite.AddOptions); ok {
			act = o.Activation
		} else if o, ok := op.Options.(*tflite.MulOptions); ok {
			act = o.Activation
		}
		applyAct(out, act)
	case tflite.OpMean:
		is := shape(0)
		x, HW, C := in(0), int(is[1]*is[2]), int(is[3])
		for n := 0; n < int(is[0]); n++ {
			for c := 0; c < C; c++ {
				s := 0.0
				for p := 0; p < HW; p++ {
					s += x[(n*HW+p)*C+c]
				}
				out[n*C+c] = s / float64(HW)
			}
		}
	case tflite.OpAveragePool2D, tflite.OpMaxPool2D:
		o := op.Options.(*tflite.Pool2DOptions)
		is := shape(0)
		H, W, C := int(is[1]), int(is[2]), int(is[3])
		KH, KW, sh, sw := nz(o.FilterHeight), nz(o.FilterWidth), nz(o.StrideH), nz(o.StrideW)
		OH, OW := int(os[1]), int(os[2])
		pt, pl := samePad(o.Padding, H, OH, KH, sh, 1), samePad(o.Padding, W, OW, KW, sw, 1)
		x := in(0)
		for n := 0; n < int(is[0]); n++ {
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					for c := 0; c < C; c++ {
						s, cnt, mx := 0.0, 0, math.Inf(-1)
						for ky := 0; ky < KH; ky++ {
							for kx := 0; kx < KW; kx++ {
								iy, ix := oy*sh-pt+ky, ox*sw-pl+kx
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								v := x[((n*H+iy)*W+ix)*C+c]
								s, cnt, mx = s+v, cnt+1, math.Max(mx, v)
							}
						}
						r := mx
						if op.Op == tflite.OpAveragePool2D {
							r = s / float64(cnt)
						}
						out[((n*OH+oy)*OW+ox)*C+c] = r
					}
				}
			}
		}
		applyAct(out, o.Activation)
	case tflite.OpLogistic:
		for i, v := range in(0) {
			out[i] = 1 / (1 + math.Exp(-v))
		}
	case tflite.OpHardSwish:
		for i, v := range in(0) {
			out[i] = v * math.Min(math.Max(v+3, 0), 6) / 6
		}
	case tflite.OpSoftmax:
		beta := float64(op.Options.(*tflite.SoftmaxOptions).Beta)
		x, D := in(0), int(os[len(os)-1])
		for r := 0; r < len(x)/D; r++ {
			mx := math.Inf(-1)
			for _, v := range x[r*D : r*D+D] {
				mx = math.Max(mx, v)
			}
			s := 0.0
			for j := 0; j < D; j++ {
				out[r*D+j] = math.Exp(beta * (x[r*D+j] - mx))
				s += out[r*D+j]
			}
			for j := 0; j < D; j++ {
				out[r*D+j] /= s
			}
		}
	case tflite.OpReshape:
		copy(out, in(0))
	case tflite.OpPad:
		is := shape(0)
		p := in(1) // dequantized as int32 with scale 1
		x := in(0)
		for i := range x {
			// Output index: each coordinate shifted by its leading padding.
			idx, rem := 0, i
			coords := make([]int, len(is))
			for d := len(is) - 1; d >= 0; d-- {
				coords[d] = rem % int(is[d])
				rem /= int(is[d])
			}
			for d := range is {
				idx = idx*int(os[d]) + coords[d] + int(p[2*d])
			}
			out[idx] = x[i]
		}
	default:
		return nil, fmt.Errorf("float reference has no %v", op.Op)
	}
	return out, nil
}

// bcast maps flat output index i of shape os to the index in a broadcast
// input of shape s (numpy rules, right-aligned).
func bcast(i int, os, s []int32) int {
	idx, stride := 0, 1
	for d := 1; d <= len(os); d++ {
		c := i % int(os[len(os)-d])
		i /= int(os[len(os)-d])
		if d <= len(s) {
			sd := int(s[len(s)-d])
			if sd != 1 {
				idx += c * stride
			}
			stride *= sd
		}
	}
	return idx
}
