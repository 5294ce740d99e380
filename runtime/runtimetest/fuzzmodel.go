package runtimetest

import (
	"encoding/binary"
	"fmt"

	"edgenas/runtime"
	"edgenas/tflite"
)

// fuzzOps are the operators FuzzModel builds, indexed by a byte: every
// operator of OpCases.
var fuzzOps = []tflite.Opcode{tflite.OpMaxPool2D, tflite.OpConcatenation, tflite.OpSqueeze, tflite.OpStridedSlice,
	tflite.OpResizeBilinear, tflite.OpResizeNearestNeighbor, tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum,
	tflite.OpTransposeConv, tflite.OpAveragePool2D, tflite.OpSoftmax, tflite.OpHardSwish, tflite.OpLogistic,
	tflite.OpReshape, tflite.OpPad, tflite.OpQuantize, tflite.OpDequantize, tflite.OpTranspose, tflite.OpMul,
	tflite.OpMean}

// FuzzModel builds, for kernel fuzz tests, one vision or audio operator
// (chosen by opSel) from raw bytes. With the top bit of opts clear the
// model is built with the Graph builders, so shapes agree and only the
// parameters are extreme; with it set, shapes, constant operands and
// options are whatever the bytes say (the structure usually valid, the rest
// not). Backends must refuse or run it, never crash.
func FuzzModel(opSel byte, dims []byte, ints []byte, opts uint32) *tflite.Model {
	op := fuzzOps[int(opSel)%len(fuzzOps)]
	if opts>>31 == 0 {
		return consistentFuzzModel(op, dims, ints, opts)
	}
	d := func(i int) int32 {
		if i < len(dims) {
			return int32(dims[i] % 7)
		}
		return 1
	}
	shape := func(at, rank int) []int32 {
		s := make([]int32, rank)
		for i := range s {
			s[i] = d(at + i)
		}
		return s
	}
	q := func() *tflite.Quantization {
		return &tflite.Quantization{Scale: []float32{0.05}, ZeroPoint: []int64{int64(int8(opts))}}
	}
	consts := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := range n {
			v := int32(0)
			if i < len(ints) {
				v = int32(int8(ints[i]))
			}
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	m := &tflite.Model{Version: tflite.SchemaVersion}
	add := func(t tflite.Tensor) int { m.Tensors = append(m.Tensors, t); return len(m.Tensors) - 1 }
	x := add(tflite.Tensor{Name: "x", Type: tflite.Int8, Shape: shape(0, 4), Quant: q()})
	y := add(tflite.Tensor{Name: "y", Type: tflite.Int8, Shape: shape(4, 4), Quant: q()})
	m.Inputs, m.Outputs = []int{x}, []int{y}
	pad := tflite.Padding(opts >> 8 & 1)
	act := tflite.Activation(opts >> 9 % 4)
	var o tflite.Operator
	switch op {
	case tflite.OpMaxPool2D:
		o = tflite.Operator{Inputs: []int{x}, Options: &tflite.Pool2DOptions{Padding: pad, StrideW: 1 + int32(opts>>12%3),
			StrideH: 1 + int32(opts>>14%3), FilterWidth: 1 + d(8), FilterHeight: 1 + d(9), Activation: act}}
	case tflite.OpConcatenation:
		x2 := add(tflite.Tensor{Name: "x2", Type: tflite.Int8, Shape: shape(8, 4), Quant: q()})
		m.Inputs = append(m.Inputs, x2)
		o = tflite.Operator{Inputs: []int{x, x2}, Options: &tflite.ConcatenationOptions{Axis: int32(int8(opts>>16)) % 6}}
	case tflite.OpSqueeze:
		m.Tensors[y].Shape = shape(4, int(opts>>10%5))
		o = tflite.Operator{Inputs: []int{x}, Options: &tflite.SqueezeOptions{SqueezeDims: []int32{int32(int8(opts>>16)) % 5}}}
	case tflite.OpStridedSlice:
		m.Tensors[y].Shape = shape(4, int(opts>>10%5))
		b := add(tflite.Tensor{Name: "b", Type: tflite.Int32, Shape: []int32{4}, Data: consts(4)})
		e := add(tflite.Tensor{Name: "e", Type: tflite.Int32, Shape: []int32{4}, Data: consts(8)[16:]})
		s := add(tflite.Tensor{Name: "s", Type: tflite.Int32, Shape: []int32{4}, Data: consts(12)[32:]})
		o = tflite.Operator{Inputs: []int{x, b, e, s}, Options: &tflite.StridedSliceOptions{BeginMask: int32(opts >> 16 & 15),
			EndMask: int32(opts >> 20 & 15), ShrinkAxisMask: int32(opts >> 24 & 15), Offset: opts>>28&1 == 1}}
	case tflite.OpResizeBilinear, tflite.OpResizeNearestNeighbor:
		sz := add(tflite.Tensor{Name: "size", Type: tflite.Int32, Shape: []int32{2}, Data: consts(2)})
		o = tflite.Operator{Inputs: []int{x, sz}, Options: &tflite.ResizeOptions{AlignCorners: opts>>16&1 == 1,
			HalfPixelCenters: opts>>17&1 == 1 && opts>>16&1 == 0}}
	case tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum:
		x2 := add(tflite.Tensor{Name: "x2", Type: tflite.Int8, Shape: shape(8, 4), Quant: q()})
		m.Inputs = append(m.Inputs, x2)
		o = tflite.Operator{Inputs: []int{x, x2}}
		if op == tflite.OpSub {
			o.Options = &tflite.SubOptions{Activation: act}
		}
	default:
		o = rawClassicOp(op, rawParts{m: m, x: x, y: y, add: add, consts: consts, pad: pad, act: act, opts: opts, d: d})
	case tflite.OpTransposeConv:
		f := shape(8, 4)
		n := int(f[0] * f[1] * f[2] * f[3])
		w := add(tflite.Tensor{Name: "w", Type: tflite.Int8, Shape: f, Data: make([]byte, n), Quant: &tflite.Quantization{Scale: []float32{0.01}, ZeroPoint: []int64{0}}})
		os := add(tflite.Tensor{Name: "os", Type: tflite.Int32, Shape: []int32{4}, Data: consts(4)})
		o = tflite.Operator{Inputs: []int{os, w, x}, Options: &tflite.TransposeConvOptions{Padding: pad,
			StrideW: 1 + int32(opts>>12%3), StrideH: 1 + int32(opts>>14%3), Activation: act}}
	}
	o.Op, o.Version, o.Outputs = op, 1, []int{y}
	m.Operators = []tflite.Operator{o}
	return m
}

// FuzzModelSeeds passes seed arguments of FuzzModel to add (a fuzz test's
// f.Add): for every operator, a consistent model and an inconsistent one.
func FuzzModelSeeds(add func(op byte, dims, ints []byte, opts uint32)) {
	for op := range len(fuzzOps) {
		add(byte(op), []byte{1, 4, 4, 2, 1, 2, 2, 2, 2, 2, 1, 2}, []byte{0, 0, 0, 0, 1, 2, 2, 2, 1, 1, 1, 1}, 0x0101)
		add(byte(op), []byte{1, 2, 3, 4, 1, 6, 5, 4, 1, 3, 3, 4}, []byte{255, 1, 2, 254, 0, 6, 5, 4}, 0xffff0203)
		add(byte(op), []byte{0, 3, 4, 2, 5}, []byte{3, 1, 2, 1, 250, 7, 6, 5, 1, 2, 0, 9}, 0x00af0c05)
	}
}

// RunFuzzModel loads m on b and, if b accepts it, runs it once on zero
// inputs. Refusals and run errors are fine; the caller's fuzz test fails on
// a panic or crash.
func RunFuzzModel(b runtime.Backend, m *tflite.Model) error {
	if m.Validate() != nil {
		return nil
	}
	it, err := b.Load(m, runtime.Options{})
	if err != nil {
		return nil
	}
	defer it.Close()
	for i, ti := range m.Inputs {
		if err := it.SetInput(i, make([]byte, m.Tensors[ti].Bytes())); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	_ = it.Invoke()
	return nil
}

// consistentFuzzModel builds op with the Graph builders from fuzz bytes:
// dimensions 1 to 6, parameters from ints and opts.
func consistentFuzzModel(op tflite.Opcode, dims, ints []byte, opts uint32) *tflite.Model {
	at := func(b []byte, i int) int {
		if i < len(b) {
			return int(b[i])
		}
		return 0
	}
	d := func(i int) int32 { return int32(1 + at(dims, i)%6) }
	sh := []int32{d(0), d(1), d(2), d(3)}
	q := Quant{Scale: float32(1+at(ints, 11)) / 256, ZeroPoint: int8(opts)}
	g := NewGraph(uint64(opts))
	x := g.Input(sh, q)
	bit := func(i uint) bool { return opts>>i&1 == 1 }
	pad, act := tflite.Padding(opts>>8&1), tflite.Activation(opts>>9%4)
	switch op {
	case tflite.OpMaxPool2D:
		g.MaxPool(x, 1+at(ints, 0)%4, 1+at(ints, 1)%4, 1+at(ints, 2)%3, pad, act)
	case tflite.OpConcatenation:
		axis := at(ints, 0) % 4
		s2 := append([]int32(nil), sh...)
		s2[axis] = d(4)
		g.Concat(axis-4*int(opts>>10&1), x, g.Input(s2, q))
	case tflite.OpSqueeze:
		s1 := []int32{1, sh[1], 1, sh[3]}
		g.m.Inputs, g.m.Tensors = nil, nil
		y := g.Input(s1, q)
		if bit(10) {
			g.Squeeze(y, 0, -2)
		} else {
			g.Squeeze(y)
		}
	case tflite.OpStridedSlice:
		var s SliceSpec
		for k := range 4 {
			st := int32(1 + at(ints, 8+k)%3)
			if bit(uint(12 + k)) {
				st = -st
			}
			s.Begin = append(s.Begin, int32(int8(ints4(ints, k))))
			s.End = append(s.End, int32(int8(ints4(ints, 4+k))))
			s.Strides = append(s.Strides, st)
		}
		s.BeginMask, s.EndMask = int32(opts>>16&15), int32(opts>>20&15)
		g.StridedSlice(x, s)
	case tflite.OpResizeBilinear, tflite.OpResizeNearestNeighbor:
		align := bit(10)
		g.Resize(x, op == tflite.OpResizeBilinear, 1+at(ints, 0)%13, 1+at(ints, 1)%13, align, !align && bit(11))
	case tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum:
		s2 := sh
		if bit(10) {
			s2 = []int32{1, 1, 1, sh[3]}
		}
		switch op {
		case tflite.OpSub:
			g.Sub(x, g.Input(s2, Quant{Scale: q.Scale * 2, ZeroPoint: -q.ZeroPoint}), act, Quant{})
		default:
			g.MaxMin(x, g.Input(s2, q), op == tflite.OpMaximum)
		}
	case tflite.OpTransposeConv:
		g.TransposeConv(x, TransposeConvSpec{OutChannels: 1 + at(ints, 0)%5, KernelH: 1 + at(ints, 1)%4, KernelW: 1 + at(ints, 2)%4,
			Stride: 1 + at(ints, 3)%3, Padding: pad, Activation: act, NoBias: bit(10), PerTensor: bit(11)})
	default:
		consistentClassicOp(g, op, x, func(i int) int { return at(ints, i) }, bit, pad, act)
	}
	return g.Model()
}

// ints4 is byte i of b as a small signed index (-8 to 7), or 0.
func ints4(b []byte, i int) int8 {
	if i < len(b) {
		return int8(b[i]<<4) >> 4
	}
	return 0
}
