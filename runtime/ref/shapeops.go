package ref

import (
	"fmt"
	"math"

	"edgenas/tflite"
)

// reshape copies its input: the arena gives every tensor its own buffer.
type reshape struct {
	in, out, size int
}

func newReshape(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(1); err != nil {
		return nil, err
	}
	in, out := t.in(0), t.out()
	if in.Type != out.Type {
		return nil, fmt.Errorf("input type %v differs from output %v", in.Type, out.Type)
	}
	if in.NumElements() != out.NumElements() {
		return nil, fmt.Errorf("input %v and output %v differ in element count", in.Shape, out.Shape)
	}
	if in.Type == tflite.Int8 || in.Type == tflite.Uint8 {
		if err := sameQuant(in, out); err != nil {
			return nil, err
		}
	}
	return &reshape{in: t.inIdx(0), out: t.outIdx(), size: in.Bytes()}, nil
}

// sameQuant checks that a data-movement operator's output shares its
// input's quantization, as TFLite's kernels assume.
func sameQuant(in, out *tflite.Tensor) error {
	if in.Quant == nil && out.Quant == nil {
		return nil
	}
	si, zi, err := quantParams(in, "input")
	if err != nil {
		return err
	}
	so, zo, err := quantParams(out, "output")
	if err != nil {
		return err
	}
	if zi != zo || math.Abs(float64(si)-float64(so)) > 1e-6*float64(si) {
		return fmt.Errorf("output quantization %v/%d differs from input %v/%d", so, zo, si, zi)
	}
	return nil
}

func (k *reshape) Eval(bufs [][]byte) error {
	if err := checkBuf(bufs, k.in, k.size); err != nil {
		return err
	}
	if err := checkBuf(bufs, k.out, k.size); err != nil {
		return err
	}
	copy(bufs[k.out][:k.size], bufs[k.in][:k.size])
	return nil
}

// strides returns row-major element strides of a shape.
func strides(shape []int32) [maxRank]int {
	var s [maxRank]int
	step := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = step
		step *= int(shape[i])
	}
	return s
}

// pad copies the input into the middle of an output prefilled with the pad
// value: the output zero point for int8 (pad.cc), 0 for float32.
type pad struct {
	in, out   int
	elem      int
	rank      int
	inDims    [maxRank]int
	before    [maxRank]int
	outStride [maxRank]int
	nIn, nOut int
	value     [4]byte
}

func newPad(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	in, out := t.in(0), t.out()
	if in.Type != out.Type || (in.Type != tflite.Int8 && in.Type != tflite.Float32) {
		return nil, fmt.Errorf("input %v and output %v: supported are float32 or int8", in.Type, out.Type)
	}
	pads, err := constInts(t.in(1), "paddings")
	if err != nil {
		return nil, err
	}
	r := len(in.Shape)
	if r > maxRank || len(pads) != 2*r {
		return nil, fmt.Errorf("%d padding values for rank %d (at most %d)", len(pads), r, maxRank)
	}
	k := &pad{in: t.inIdx(0), out: t.outIdx(), elem: in.Type.Size(), rank: r, nIn: in.NumElements(), nOut: out.NumElements()}
	want := make([]int32, r)
	for d := range r {
		b, a := pads[2*d], pads[2*d+1]
		if b < 0 || a < 0 {
			return nil, fmt.Errorf("negative padding %d/%d on dimension %d", b, a, d)
		}
		want[d] = in.Shape[d] + int32(b+a)
		k.before[d] = b
		k.inDims[d] = int(in.Shape[d])
	}
	if !sameShape(want, out.Shape) {
		return nil, fmt.Errorf("output shape %v, want %v", out.Shape, want)
	}
	k.outStride = strides(out.Shape)
	if in.Type == tflite.Int8 {
		if err := sameQuant(in, out); err != nil {
			return nil, err
		}
		_, zo, err := quantParams(out, "output")
		if err != nil {
			return nil, err
		}
		k.value[0] = byte(int8(zo))
	}
	return k, nil
}

func (k *pad) Eval(bufs [][]byte) error {
	if err := checkBuf(bufs, k.in, k.nIn*k.elem); err != nil {
		return err
	}
	if err := checkBuf(bufs, k.out, k.nOut*k.elem); err != nil {
		return err
	}
	x, y := bufs[k.in], bufs[k.out][:k.nOut*k.elem]
	if k.elem == 1 {
		for i := range y {
			y[i] = k.value[0]
		}
	} else {
		clear(y)
	}
	if k.nIn == 0 {
		return nil
	}
	if k.rank == 0 {
		copy(y, x[:k.elem])
		return nil
	}
	inner := k.inDims[k.rank-1]
	rowBytes := inner * k.elem
	var idx [maxRank]int
	for src := 0; src < k.nIn*k.elem; src += rowBytes {
		dst := 0
		for d := range k.rank {
			dst += (idx[d] + k.before[d]) * k.outStride[d]
		}
		dst *= k.elem
		copy(y[dst:dst+rowBytes], x[src:src+rowBytes])
		for d := k.rank - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < k.inDims[d] {
				break
			}
			idx[d] = 0
		}
	}
	return nil
}

// transpose permutes dimensions: output dimension j is input dimension perm[j].
type transpose struct {
	in, out  int
	elem     int
	rank     int
	outDims  [maxRank]int
	inStride [maxRank]int // input stride of each output dimension
	n        int
}

func newTranspose(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	in, out := t.in(0), t.out()
	if in.Type != out.Type {
		return nil, fmt.Errorf("input type %v differs from output %v", in.Type, out.Type)
	}
	perm, err := constInts(t.in(1), "permutation")
	if err != nil {
		return nil, err
	}
	r := len(in.Shape)
	if r > maxRank || len(perm) != r {
		return nil, fmt.Errorf("permutation %v for rank %d (at most %d)", perm, r, maxRank)
	}
	k := &transpose{in: t.inIdx(0), out: t.outIdx(), elem: in.Type.Size(), rank: r, n: in.NumElements()}
	is := strides(in.Shape)
	seen := make([]bool, r)
	want := make([]int32, r)
	for j, p := range perm {
		if p < 0 {
			p += r
		}
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("permutation %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[p] = true
		want[j] = in.Shape[p]
		k.outDims[j] = int(in.Shape[p])
		k.inStride[j] = is[p]
	}
	if !sameShape(want, out.Shape) {
		return nil, fmt.Errorf("output shape %v, want %v", out.Shape, want)
	}
	if in.Type == tflite.Int8 {
		if err := sameQuant(in, out); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *transpose) Eval(bufs [][]byte) error {
	if err := checkBuf(bufs, k.in, k.n*k.elem); err != nil {
		return err
	}
	if err := checkBuf(bufs, k.out, k.n*k.elem); err != nil {
		return err
	}
	x, y := bufs[k.in], bufs[k.out]
	if k.rank == 0 {
		copy(y[:k.elem], x[:k.elem])
		return nil
	}
	var idx [maxRank]int
	src := 0
	last := k.rank - 1
	e := k.elem
	for dst := 0; dst < k.n*e; dst += e {
		if e == 1 {
			y[dst] = x[src]
		} else {
			copy(y[dst:dst+e], x[src*e:src*e+e])
		}
		for d := last; d >= 0; d-- {
			idx[d]++
			src += k.inStride[d]
			if idx[d] < k.outDims[d] {
				break
			}
			src -= idx[d] * k.inStride[d]
			idx[d] = 0
		}
	}
	return nil
}

// quantize converts float32 to int8 (reference AffineQuantize) or
// requantizes int8 to int8 (reference Requantize).
type quantize struct {
	unary
	fromFloat bool
	scale     float32
	zpIn      int32
	zpOut     int32
	mult      int32
	shift     int
}

func newQuantize(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	u, in, out, err := newUnary(m, o)
	if err != nil {
		return nil, err
	}
	if out.Type != tflite.Int8 {
		return nil, fmt.Errorf("output type %v, only int8 supported", out.Type)
	}
	outS, outZ, err := quantParams(out, "output")
	if err != nil {
		return nil, err
	}
	switch in.Type {
	case tflite.Float32:
		return &quantize{unary: u, fromFloat: true, scale: outS, zpOut: outZ}, nil
	case tflite.Int8:
		inS, inZ, err := quantParams(in, "input")
		if err != nil {
			return nil, err
		}
		q, s := QuantizeMultiplier(float64(inS) / float64(outS))
		return &quantize{unary: u, zpIn: inZ, zpOut: outZ, mult: q, shift: s}, nil
	}
	return nil, fmt.Errorf("input type %v, supported are float32 and int8", in.Type)
}

func (k *quantize) Eval(bufs [][]byte) error {
	y, err := i8buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	if k.fromFloat {
		x, err := f32buf(bufs, k.in, k.n)
		if err != nil {
			return err
		}
		for i, v := range x {
			r := roundHalfAway32(v / k.scale)
			var q int32
			switch {
			case r >= math.MaxInt8+1024: // keep the int32 conversion in range
				q = math.MaxInt8
			case r <= math.MinInt8-1024:
				q = math.MinInt8
			case r != r: // NaN
				q = k.zpOut
			default:
				q = int32(r) + k.zpOut
			}
			y[i] = int8(min(max(q, math.MinInt8), math.MaxInt8))
		}
		return nil
	}
	x, err := i8buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	for i, v := range x {
		q := MultiplyByQuantizedMultiplier(int32(v)-k.zpIn, k.mult, k.shift) + k.zpOut
		y[i] = int8(min(max(q, math.MinInt8), math.MaxInt8))
	}
	return nil
}

// dequantize converts int8 to float32: scale*(q-zp) in double, rounded to
// float32, as reference Dequantize.
type dequantize struct {
	unary
	scale float64
	zp    int32
}

func newDequantize(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	u, in, out, err := newUnary(m, o)
	if err != nil {
		return nil, err
	}
	if in.Type != tflite.Int8 || out.Type != tflite.Float32 {
		return nil, fmt.Errorf("input %v and output %v: only int8 to float32 supported", in.Type, out.Type)
	}
	s, z, err := quantParams(in, "input")
	if err != nil {
		return nil, err
	}
	return &dequantize{unary: u, scale: float64(s), zp: z}, nil
}

func (k *dequantize) Eval(bufs [][]byte) error {
	x, err := i8buf(bufs, k.in, k.n)
	if err != nil {
		return err
	}
	y, err := f32buf(bufs, k.out, k.n)
	if err != nil {
		return err
	}
	for i, v := range x {
		y[i] = float32(k.scale * float64(int32(v)-k.zp))
	}
	return nil
}
