package ref

import (
	"fmt"

	"edgenas/tflite"
)

// maxRank bounds the rank of broadcast, reduce, pad and transpose operands.
const maxRank = 6

// broadcast iterates two operands broadcast to an output shape, one
// innermost row at a time.
type broadcast struct {
	rank       int
	dims       [maxRank]int // output dims, outer first (without the innermost)
	strideA    [maxRank]int
	strideB    [maxRank]int
	inner      int // innermost output dimension
	innerA     int // 0 or 1: a's step along the innermost dimension
	innerB     int
	rows       int
	nA, nB, nO int
}

func newBroadcast(a, b, out []int32) (broadcast, error) {
	var bc broadcast
	r := len(out)
	if r > maxRank || len(a) > r || len(b) > r {
		return bc, fmt.Errorf("shapes %v and %v to %v: ranks above %d or inputs above the output rank not supported", a, b, out, maxRank)
	}
	strides := func(s []int32) ([maxRank]int, error) {
		var st [maxRank]int
		step := 1
		for i := r - 1; i >= 0; i-- {
			j := i - (r - len(s))
			d := 1
			if j >= 0 {
				d = int(s[j])
			}
			switch {
			case d == int(out[i]):
				st[i] = step
			case d == 1:
				st[i] = 0
			default:
				return st, fmt.Errorf("shape %v does not broadcast to %v", s, out)
			}
			step *= d
		}
		return st, nil
	}
	sa, err := strides(a)
	if err != nil {
		return bc, err
	}
	sb, err := strides(b)
	if err != nil {
		return bc, err
	}
	bc.nA, bc.nB, bc.nO = numElements(a), numElements(b), numElements(out)
	if r == 0 {
		bc.inner, bc.innerA, bc.innerB, bc.rows = 1, 1, 1, 1
		return bc, nil
	}
	bc.rank = r - 1
	for i := range r - 1 {
		bc.dims[i] = int(out[i])
		bc.strideA[i] = sa[i]
		bc.strideB[i] = sb[i]
	}
	bc.inner = int(out[r-1])
	bc.innerA, bc.innerB = sa[r-1], sb[r-1]
	if bc.inner == 0 {
		bc.rows = 0
	} else {
		bc.rows = bc.nO / bc.inner
	}
	return bc, nil
}

// each calls row(offA, offB, offOut) for every innermost output row.
func (bc *broadcast) each(row func(offA, offB, offO int)) {
	var idx [maxRank]int
	offA, offB := 0, 0
	for r := range bc.rows {
		row(offA, offB, r*bc.inner)
		for d := bc.rank - 1; d >= 0; d-- {
			idx[d]++
			offA += bc.strideA[d]
			offB += bc.strideB[d]
			if idx[d] < bc.dims[d] {
				break
			}
			offA -= idx[d] * bc.strideA[d]
			offB -= idx[d] * bc.strideB[d]
			idx[d] = 0
		}
	}
}

type binaryInt8 struct {
	add            bool
	a, b, out      int
	bc             broadcast
	offA, offB     int32 // -zero points
	zpOut          int32
	leftShift      int
	multA, multB   int32
	shiftA, shiftB int
	multO          int32
	shiftO         int
	actLo, actHi   int32
	x, y, z        []int8
}

type binaryFloat struct {
	add          bool
	a, b, out    int
	bc           broadcast
	actLo, actHi float32
	x, y, z      []float32
}

func newBinary(m *tflite.Model, o *tflite.Operator) (Kernel, error) {
	t := opTensors{m, o}
	if err := t.need(2); err != nil {
		return nil, err
	}
	var act tflite.Activation
	switch opts := o.Options.(type) {
	case *tflite.AddOptions:
		if opts == nil || o.Op != tflite.OpAdd {
			return nil, fmt.Errorf("options %T do not match", o.Options)
		}
		act = opts.Activation
	case *tflite.MulOptions:
		if opts == nil || o.Op != tflite.OpMul {
			return nil, fmt.Errorf("options %T do not match", o.Options)
		}
		act = opts.Activation
	default:
		return nil, fmt.Errorf("options %T, want *AddOptions or *MulOptions", o.Options)
	}
	a, b, out := t.in(0), t.in(1), t.out()
	bc, err := newBroadcast(a.Shape, b.Shape, out.Shape)
	if err != nil {
		return nil, err
	}
	add := o.Op == tflite.OpAdd
	switch {
	case a.Type == tflite.Float32 && b.Type == tflite.Float32 && out.Type == tflite.Float32:
		lo, hi, err := activationRangeFloat(act)
		if err != nil {
			return nil, err
		}
		return &binaryFloat{add: add, a: t.inIdx(0), b: t.inIdx(1), out: t.outIdx(), bc: bc, actLo: lo, actHi: hi}, nil
	case a.Type == tflite.Int8 && b.Type == tflite.Int8 && out.Type == tflite.Int8:
		sA, zA, err := quantParams(a, "input 0")
		if err != nil {
			return nil, err
		}
		sB, zB, err := quantParams(b, "input 1")
		if err != nil {
			return nil, err
		}
		sO, zO, err := quantParams(out, "output")
		if err != nil {
			return nil, err
		}
		lo, hi, err := activationRangeQuantized(act, sO, zO)
		if err != nil {
			return nil, err
		}
		k := &binaryInt8{add: add, a: t.inIdx(0), b: t.inIdx(1), out: t.outIdx(), bc: bc,
			offA: -zA, offB: -zB, zpOut: zO, actLo: lo, actHi: hi}
		if add {
			// add.cc Prepare for int8: inputs are brought to a common
			// scale twice the larger input scale, with 20 bits of headroom.
			k.leftShift = 20
			twiceMax := 2 * max(sA, sB)
			var err error
			if k.multA, k.shiftA, err = multiplierSmallerThanOne(float64(sA) / float64(twiceMax)); err != nil {
				return nil, fmt.Errorf("input 0 multiplier: %w", err)
			}
			if k.multB, k.shiftB, err = multiplierSmallerThanOne(float64(sB) / float64(twiceMax)); err != nil {
				return nil, fmt.Errorf("input 1 multiplier: %w", err)
			}
			if k.multO, k.shiftO, err = multiplierSmallerThanOne(float64(twiceMax) / float64(float32(1<<20)*sO)); err != nil {
				return nil, fmt.Errorf("output multiplier: %w", err)
			}
		} else {
			// mul.cc computes the product and quotient in float32.
			k.multO, k.shiftO = QuantizeMultiplier(float64(sA * sB / sO))
		}
		return k, nil
	}
	return nil, fmt.Errorf("inputs %v, %v and output %v: supported are all float32 or all int8", a.Type, b.Type, out.Type)
}

// multiplierSmallerThanOne is QuantizeMultiplierSmallerThanOneExp.
func multiplierSmallerThanOne(real float64) (int32, int, error) {
	if !(real > 0 && real < 1) {
		return 0, 0, fmt.Errorf("real multiplier %v outside (0, 1)", real)
	}
	q, s := QuantizeMultiplier(real)
	if s > 0 {
		return 0, 0, fmt.Errorf("real multiplier %v gives a left shift", real)
	}
	return q, s, nil
}

func (k *binaryInt8) Eval(bufs [][]byte) error {
	var err error
	if k.x, err = i8buf(bufs, k.a, k.bc.nA); err != nil {
		return err
	}
	if k.y, err = i8buf(bufs, k.b, k.bc.nB); err != nil {
		return err
	}
	if k.z, err = i8buf(bufs, k.out, k.bc.nO); err != nil {
		return err
	}
	if k.add {
		k.bc.each(k.addRow)
	} else {
		k.bc.each(k.mulRow)
	}
	return nil
}

func (k *binaryInt8) addRow(oa, ob, oo int) {
	sa, sb := k.bc.innerA, k.bc.innerB
	for i := range k.bc.inner {
		a := (k.offA + int32(k.x[oa+i*sa])) * (1 << k.leftShift)
		b := (k.offB + int32(k.y[ob+i*sb])) * (1 << k.leftShift)
		a = MultiplyByQuantizedMultiplier(a, k.multA, k.shiftA)
		b = MultiplyByQuantizedMultiplier(b, k.multB, k.shiftB)
		v := MultiplyByQuantizedMultiplier(a+b, k.multO, k.shiftO) + k.zpOut
		k.z[oo+i] = int8(min(max(v, k.actLo), k.actHi))
	}
}

func (k *binaryInt8) mulRow(oa, ob, oo int) {
	sa, sb := k.bc.innerA, k.bc.innerB
	for i := range k.bc.inner {
		p := (k.offA + int32(k.x[oa+i*sa])) * (k.offB + int32(k.y[ob+i*sb]))
		v := MultiplyByQuantizedMultiplier(p, k.multO, k.shiftO) + k.zpOut
		k.z[oo+i] = int8(min(max(v, k.actLo), k.actHi))
	}
}

func (k *binaryFloat) Eval(bufs [][]byte) error {
	var err error
	if k.x, err = f32buf(bufs, k.a, k.bc.nA); err != nil {
		return err
	}
	if k.y, err = f32buf(bufs, k.b, k.bc.nB); err != nil {
		return err
	}
	if k.z, err = f32buf(bufs, k.out, k.bc.nO); err != nil {
		return err
	}
	k.bc.each(k.row)
	return nil
}

func (k *binaryFloat) row(oa, ob, oo int) {
	sa, sb := k.bc.innerA, k.bc.innerB
	for i := range k.bc.inner {
		var v float32
		if k.add {
			v = k.x[oa+i*sa] + k.y[ob+i*sb]
		} else {
			v = k.x[oa+i*sa] * k.y[ob+i*sb]
		}
		k.z[oo+i] = clampF(v, k.actLo, k.actHi)
	}
}
