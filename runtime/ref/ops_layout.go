package ref

import (
	"fmt"

	"edgenas/tflite"
)

// Data-movement kernels for CONCATENATION, SQUEEZE and STRIDED_SLICE. They
// copy elements as stored, so one kernel serves every element type; int8
// outputs must share their inputs' quantization, as TFLite's Prepare checks
// (concatenation.cc) or its converter guarantees (squeeze, strided slice).

// concat copies each input's rows of the axis-major layout in turn.
type concat struct {
	ins   []int
	out   int
	outer int   // product of the dimensions before the axis
	rows  []int // per input: bytes of one outer slice
	total int   // bytes of one outer slice of the output
}

func newConcat(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(len(o.Inputs)); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.ConcatenationOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *ConcatenationOptions", o.Options)
	}
	if opts.Activation != tflite.ActNone {
		return nil, fmt.Errorf("fused activation %v not supported", opts.Activation)
	}
	out := t.out()
	rank := len(out.Shape)
	axis := int(opts.Axis)
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return nil, fmt.Errorf("axis %d for rank %d", opts.Axis, rank)
	}
	elem := out.Type.Size()
	if elem == 0 {
		return nil, fmt.Errorf("output type %v not supported", out.Type)
	}
	k := &concat{out: t.outIdx(), outer: numElements(out.Shape[:axis])}
	inner := numElements(out.Shape[axis+1:]) * elem
	sum := 0
	for i := range o.Inputs {
		in := t.in(i)
		if in.Type != out.Type || len(in.Shape) != rank {
			return nil, fmt.Errorf("input %d is %v%v, output %v%v", i, in.Type, in.Shape, out.Type, out.Shape)
		}
		for d := range rank {
			if d != axis && in.Shape[d] != out.Shape[d] {
				return nil, fmt.Errorf("input %d shape %v does not match output %v off axis %d", i, in.Shape, out.Shape, axis)
			}
		}
		if in.Type == tflite.Int8 {
			if err := sameQuant(in, out); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
		}
		sum += int(in.Shape[axis])
		k.ins = append(k.ins, t.inIdx(i))
		k.rows = append(k.rows, int(in.Shape[axis])*inner)
	}
	if sum != int(out.Shape[axis]) {
		return nil, fmt.Errorf("inputs sum to %d along axis %d, output has %d", sum, axis, out.Shape[axis])
	}
	k.total = int(out.Shape[axis]) * inner
	return k, nil
}

func (k *concat) Eval(bufs [][]byte) error {
	if err := checkBuf(bufs, k.out, k.outer*k.total); err != nil {
		return err
	}
	for i, in := range k.ins {
		if err := checkBuf(bufs, in, k.outer*k.rows[i]); err != nil {
			return err
		}
	}
	dst := bufs[k.out]
	off := 0
	for o := range k.outer {
		for i, in := range k.ins {
			n := k.rows[i]
			copy(dst[off:off+n], bufs[in][o*n:(o+1)*n])
			off += n
		}
	}
	return nil
}

// newSqueeze is SQUEEZE: a copy, after checking the output drops exactly
// the listed dimensions of size 1 (all of them when none are listed).
func newSqueeze(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(1); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.SqueezeOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *SqueezeOptions", o.Options)
	}
	in, out := t.in(0), t.out()
	want, err := tflite.SqueezedShape(in.Shape, opts.SqueezeDims)
	if err != nil {
		return nil, err
	}
	if !sameShape(want, out.Shape) {
		return nil, fmt.Errorf("output shape %v, want %v", out.Shape, want)
	}
	return newReshape(m, o)
}

// stridedSlice gathers a strided box of the input (strided_slice.cc with
// the index logic of strided_slice_logic.h; ellipsis and new-axis masks are
// not supported).
type stridedSlice struct {
	in, out int
	elem    int
	rank    int
	start   [maxRank]int
	stride  [maxRank]int
	count   [maxRank]int
	inStr   [maxRank]int
	nIn     int
	nOut    int
}

func newStridedSlice(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(4); err != nil {
		return nil, err
	}
	opts, ok := o.Options.(*tflite.StridedSliceOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("options %T, want *StridedSliceOptions", o.Options)
	}
	if opts.EllipsisMask != 0 || opts.NewAxisMask != 0 {
		return nil, fmt.Errorf("ellipsis mask %#x and new axis mask %#x not supported", opts.EllipsisMask, opts.NewAxisMask)
	}
	in, out := t.in(0), t.out()
	r := len(in.Shape)
	if r > maxRank {
		return nil, fmt.Errorf("rank %d above %d", r, maxRank)
	}
	begin, err := constInts(t.in(1), "begin")
	if err != nil {
		return nil, err
	}
	end, err := constInts(t.in(2), "end")
	if err != nil {
		return nil, err
	}
	steps, err := constInts(t.in(3), "strides")
	if err != nil {
		return nil, err
	}
	if len(begin) != r || len(end) != r || len(steps) != r {
		return nil, fmt.Errorf("begin, end and strides have %d, %d and %d values for rank %d", len(begin), len(end), len(steps), r)
	}
	if in.Type != out.Type || in.Type.Size() == 0 {
		return nil, fmt.Errorf("input %v and output %v", in.Type, out.Type)
	}
	if in.Type == tflite.Int8 {
		if err := sameQuant(in, out); err != nil {
			return nil, err
		}
	}
	k := &stridedSlice{in: t.inIdx(0), out: t.outIdx(), elem: in.Type.Size(), rank: r, inStr: strides(in.Shape),
		nIn: in.NumElements(), nOut: out.NumElements()}
	var want []int32
	for d := range r {
		start, count, err := sliceAxis(int(in.Shape[d]), begin[d], end[d], steps[d], bit(opts.BeginMask, d),
			bit(opts.EndMask, d), bit(opts.ShrinkAxisMask, d), opts.Offset)
		if err != nil {
			return nil, fmt.Errorf("dimension %d: %w", d, err)
		}
		k.start[d], k.stride[d], k.count[d] = start, steps[d], count
		if !bit(opts.ShrinkAxisMask, d) {
			want = append(want, int32(count))
		}
	}
	if !sameShape(want, out.Shape) {
		return nil, fmt.Errorf("output shape %v, the slice gives %v", out.Shape, want)
	}
	return k, nil
}

func bit(mask int32, i int) bool { return mask>>uint(i)&1 != 0 }

// sliceAxis resolves one dimension's start index and element count as
// strided_slice_logic.h's StartForAxis and StopForAxis do.
func sliceAxis(dim, begin, end, stride int, beginMask, endMask, shrink, offset bool) (start, count int, err error) {
	if stride == 0 {
		return 0, 0, fmt.Errorf("stride 0")
	}
	clamp := func(v int) int {
		if stride > 0 {
			return min(max(v, 0), dim)
		}
		return min(max(v, -1), dim-1)
	}
	if beginMask && !shrink {
		if stride > 0 {
			start = 0
		} else {
			start = dim - 1
		}
	} else {
		start = begin
		if start < 0 {
			start += dim
		}
		if shrink {
			if start < 0 || start >= dim {
				return 0, 0, fmt.Errorf("shrink index %d outside size %d", begin, dim)
			}
			return start, 1, nil
		}
		start = clamp(start)
	}
	var stop int
	switch {
	case endMask && !offset:
		if stride > 0 {
			stop = dim
		} else {
			stop = -1
		}
	default:
		stop = end
		if offset { // strided_slice.cc: end is relative to the raw begin
			stop = begin + end
		}
		if stop < 0 {
			stop += dim
		}
		stop = clamp(stop)
	}
	if stride > 0 && stop > start {
		count = (stop - start + stride - 1) / stride
	} else if stride < 0 && stop < start {
		count = (start - stop - stride - 1) / -stride
	}
	return start, count, nil
}

func (k *stridedSlice) Eval(bufs [][]byte) error {
	if err := checkBuf(bufs, k.in, k.nIn*k.elem); err != nil {
		return err
	}
	if err := checkBuf(bufs, k.out, k.nOut*k.elem); err != nil {
		return err
	}
	if k.nOut == 0 {
		return nil
	}
	src, dst := bufs[k.in], bufs[k.out]
	var idx [maxRank]int
	off := 0
	for d := range k.rank {
		off += k.start[d] * k.inStr[d]
	}
	for o := 0; o < k.nOut; o++ {
		copy(dst[o*k.elem:(o+1)*k.elem], src[off*k.elem:(off+1)*k.elem])
		for d := k.rank - 1; d >= 0; d-- {
			idx[d]++
			off += k.stride[d] * k.inStr[d]
			if idx[d] < k.count[d] {
				break
			}
			off -= idx[d] * k.stride[d] * k.inStr[d]
			idx[d] = 0
		}
	}
	return nil
}
