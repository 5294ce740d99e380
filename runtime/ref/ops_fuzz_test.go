package ref_test

import (
	"encoding/binary"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// fuzzOps are the operators FuzzVisionKernels builds, indexed by a byte.
var fuzzOps = []tflite.Opcode{tflite.OpMaxPool2D, tflite.OpConcatenation, tflite.OpSqueeze, tflite.OpStridedSlice,
	tflite.OpResizeBilinear, tflite.OpResizeNearestNeighbor, tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum,
	tflite.OpTransposeConv}

// fuzzModel builds one operator of fuzzOps with shapes, constant operands
// and options taken from raw bytes, consistent or not: only the model's
// structure is valid (it passes Validate), the rest is whatever the bytes
// say.
func fuzzModel(opSel byte, dims []byte, ints []byte, opts uint32) *tflite.Model {
	op := fuzzOps[int(opSel)%len(fuzzOps)]
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

// FuzzVisionKernels builds inconsistent models of the vision and audio
// operators and loads and runs them on ref: each must be refused with an
// error or run, never panic.
func FuzzVisionKernels(f *testing.F) {
	for op := range len(fuzzOps) {
		f.Add(byte(op), []byte{1, 4, 4, 2, 1, 2, 2, 2, 2, 2, 1, 2}, []byte{0, 0, 0, 0, 1, 2, 2, 2, 1, 1, 1, 1}, uint32(0x0101))
		f.Add(byte(op), []byte{1, 2, 3, 4, 1, 6, 5, 4, 1, 3, 3, 4}, []byte{255, 1, 2, 254, 0, 6, 5, 4}, uint32(0xffff0203))
	}
	f.Fuzz(func(t *testing.T, op byte, dims, ints []byte, opts uint32) {
		m := fuzzModel(op, dims, ints, opts)
		if m.Validate() != nil {
			return
		}
		it, err := ref.Backend{}.Load(m, runtime.Options{})
		if err != nil {
			return
		}
		defer it.Close()
		for i, ti := range m.Inputs {
			if err := it.SetInput(i, make([]byte, m.Tensors[ti].Bytes())); err != nil {
				t.Fatal(err)
			}
		}
		_ = it.Invoke()
	})
}
