package quantize

import "edgenas/tflite"

// OpVersion is the version TFLite's converter gives operator i of m, after
// tensorflow/lite/tools/versioning/op_version.cc, for the operators and
// types edgenas emits (float32, int8 with int32 biases).
func OpVersion(m *tflite.Model, i int) int32 {
	op := &m.Operators[i]
	typ := func(ts []int, k int) tflite.TensorType {
		if k >= len(ts) || ts[k] < 0 || ts[k] >= len(m.Tensors) {
			return -1
		}
		return m.Tensors[ts[k]].Type
	}
	in0, in1, out0 := typ(op.Inputs, 0), typ(op.Inputs, 1), typ(op.Outputs, 0)
	int8In := in0 == tflite.Int8
	switch op.Op {
	case tflite.OpConv2D:
		if in0 == tflite.Int8 && in1 == tflite.Int8 && out0 == tflite.Int8 {
			return 3
		}
		if in0 == tflite.Float32 && in1 == tflite.Int8 && out0 == tflite.Float32 {
			if q := m.Tensors[op.Inputs[1]].Quant; q.PerChannel() {
				return 5
			}
			return 2
		}
		return 1
	case tflite.OpDepthwiseConv2D:
		if in0 == tflite.Float32 && in1 == tflite.Int8 && out0 == tflite.Float32 {
			if q := m.Tensors[op.Inputs[1]].Quant; q.PerChannel() {
				return 6
			}
			return 4
		}
		if in0 == tflite.Int8 && in1 == tflite.Int8 && out0 == tflite.Int8 {
			return 3
		}
		if o, ok := op.Options.(*tflite.DepthwiseConv2DOptions); ok && (o.DilationW != 1 || o.DilationH != 1) {
			return 2
		}
		return 1
	case tflite.OpFullyConnected:
		// Order matters: op_version.cc tests the bias-less form, then
		// keep_num_dims, before the int8 kernel.
		if len(op.Inputs) == 2 || (len(op.Inputs) == 3 && op.Inputs[2] < 0) {
			return 6
		}
		if o, ok := op.Options.(*tflite.FullyConnectedOptions); ok && o.KeepNumDims {
			return 5
		}
		if in0 == tflite.Int8 && in1 == tflite.Int8 && out0 == tflite.Int8 {
			return 4
		}
		if in0 == tflite.Float32 && in1 == tflite.Int8 && out0 == tflite.Float32 {
			return 3
		}
		return 1
	case tflite.OpMul:
		if int8In && len(op.Inputs) == 2 {
			s1, s2, so := scale0(m, op.Inputs[0]), scale0(m, op.Inputs[1]), scale0(m, op.Outputs[0])
			if s1 != 0 && s2 != 0 && so != 0 && s1*s2/so >= 1 {
				return 3
			}
			return 2
		}
		return 1
	case tflite.OpAdd, tflite.OpLogistic, tflite.OpSoftmax, tflite.OpMean, tflite.OpAveragePool2D,
		tflite.OpMaxPool2D, tflite.OpTranspose, tflite.OpPad:
		if int8In {
			return 2
		}
		return 1
	case tflite.OpDequantize:
		if int8In {
			if q := m.Tensors[op.Inputs[0]].Quant; q.PerChannel() {
				return 5
			}
			return 2
		}
		return 1
	case tflite.OpQuantize:
		if out0 == tflite.Int16 {
			return 2
		}
		return 1
	}
	return 1
}

func scale0(m *tflite.Model, t int) float32 {
	if q := m.Tensors[t].Quant; q != nil && len(q.Scale) > 0 {
		return q.Scale[0]
	}
	return 0
}

// setVersions gives every operator its converter version.
func setVersions(m *tflite.Model) {
	for i := range m.Operators {
		m.Operators[i].Version = OpVersion(m, i)
	}
}
