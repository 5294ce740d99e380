package runtimetest

import (
	"encoding/binary"
	"math"

	"edgenas/tflite"
)

// DequantizedModel returns the same graph in float32: int8 activations
// become float32 tensors, int8 constants and quantized int32 constants
// (biases) are dequantized with their (per-channel) parameters, unquantized
// int32 constants (axes, shapes, paddings) are kept, and QUANTIZE /
// DEQUANTIZE become RESHAPEs to the same shape (identities in float). Float
// tensors carry no quantization. m is not modified.
func DequantizedModel(m *tflite.Model) *tflite.Model {
	out := &tflite.Model{Version: m.Version, Description: m.Description, Name: m.Name,
		Inputs: append([]int(nil), m.Inputs...), Outputs: append([]int(nil), m.Outputs...)}
	out.Tensors = make([]tflite.Tensor, len(m.Tensors))
	for i := range m.Tensors {
		out.Tensors[i] = dequantizeTensor(&m.Tensors[i])
	}
	out.Operators = make([]tflite.Operator, len(m.Operators))
	for i, o := range m.Operators {
		n := tflite.Operator{Op: o.Op, Version: 1, Inputs: append([]int(nil), o.Inputs...),
			Outputs: append([]int(nil), o.Outputs...), Options: o.Options}
		if o.Op == tflite.OpQuantize || o.Op == tflite.OpDequantize {
			shape := append([]int32(nil), m.Tensors[o.Outputs[0]].Shape...)
			n = tflite.Operator{Op: tflite.OpReshape, Version: 1, Inputs: []int{o.Inputs[0]},
				Outputs: append([]int(nil), o.Outputs...), Options: &tflite.ReshapeOptions{NewShape: shape}}
		}
		out.Operators[i] = n
	}
	return out
}

func dequantizeTensor(t *tflite.Tensor) tflite.Tensor {
	n := tflite.Tensor{Name: t.Name, Type: t.Type, Shape: append([]int32(nil), t.Shape...), Data: t.Data}
	q := t.Quant
	quantized := q != nil && len(q.Scale) > 0 && len(q.ZeroPoint) == len(q.Scale)
	switch {
	case t.Type == tflite.Int8 || t.Type == tflite.Uint8:
		n.Type = tflite.Float32
		n.Data = nil
		if t.IsConst() && quantized {
			n.Data = dequantizeData(t)
		}
	case t.Type == tflite.Int32 && quantized:
		n.Type = tflite.Float32
		n.Data = nil
		if t.IsConst() {
			n.Data = dequantizeData(t)
		}
	default:
		n.Quant = t.Quant
	}
	return n
}

// channelOf returns, for element i of t, the index of its quantization
// parameters.
func channelOf(t *tflite.Tensor) func(i int) int {
	q := t.Quant
	if len(q.Scale) == 1 {
		return func(int) int { return 0 }
	}
	axis := int(q.Axis)
	if axis >= len(t.Shape) { // 1-D per-channel tensors written with the filter's axis
		axis = len(t.Shape) - 1
	}
	inner := 1
	for _, d := range t.Shape[axis+1:] {
		inner *= int(d)
	}
	dim := int(t.Shape[axis])
	return func(i int) int { return (i / inner) % dim }
}

func dequantizeData(t *tflite.Tensor) []byte {
	n := t.NumElements()
	ch := channelOf(t)
	out := make([]byte, 4*n)
	for i := range n {
		var q int64
		switch t.Type {
		case tflite.Int8:
			q = int64(int8(t.Data[i]))
		case tflite.Uint8:
			q = int64(t.Data[i])
		case tflite.Int32:
			q = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
		c := ch(i)
		v := float64(t.Quant.Scale[c]) * float64(q-t.Quant.ZeroPoint[c])
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(float32(v)))
	}
	return out
}
