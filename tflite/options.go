package tflite

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// BuiltinOptions union member indices from schema.fbs (NONE = 0, then the
// tables in declaration order) for the options tables edgenas uses.
const (
	optNone            uint8 = 0
	optConv2D          uint8 = 1
	optDepthwiseConv2D uint8 = 2
	optPool2D          uint8 = 5
	optFullyConnected  uint8 = 8
	optSoftmax         uint8 = 9
	optConcatenation   uint8 = 10
	optAdd             uint8 = 11
	optResizeBilinear  uint8 = 15
	optReshape         uint8 = 17
	optMul             uint8 = 21
	optPad             uint8 = 22
	optTranspose       uint8 = 26
	optReducer         uint8 = 27
	optSub             uint8 = 28
	optSqueeze         uint8 = 30
	optStridedSlice    uint8 = 32
	optDequantize      uint8 = 38
	optMaximumMinimum  uint8 = 39
	optTransposeConv   uint8 = 49
	optResizeNearest   uint8 = 74
	optQuantize        uint8 = 89
	optHardSwish       uint8 = 91
)

// optionsType is the BuiltinOptions member each operator uses.
func optionsType(op Opcode) uint8 {
	switch op {
	case OpConv2D:
		return optConv2D
	case OpDepthwiseConv2D:
		return optDepthwiseConv2D
	case OpAveragePool2D, OpMaxPool2D:
		return optPool2D
	case OpFullyConnected:
		return optFullyConnected
	case OpSoftmax:
		return optSoftmax
	case OpAdd:
		return optAdd
	case OpReshape:
		return optReshape
	case OpMul:
		return optMul
	case OpPad:
		return optPad
	case OpTranspose:
		return optTranspose
	case OpMean:
		return optReducer
	case OpDequantize:
		return optDequantize
	case OpQuantize:
		return optQuantize
	case OpHardSwish:
		return optHardSwish
	case OpConcatenation:
		return optConcatenation
	case OpResizeBilinear:
		return optResizeBilinear
	case OpResizeNearestNeighbor:
		return optResizeNearest
	case OpSub:
		return optSub
	case OpSqueeze:
		return optSqueeze
	case OpStridedSlice:
		return optStridedSlice
	case OpMaximum, OpMinimum:
		return optMaximumMinimum
	case OpTransposeConv:
		return optTransposeConv
	}
	return optNone // LOGISTIC has no options table in the union
}

// hasOptionsStruct reports whether op's Operator.Options must be a typed
// struct (false: Options is nil, as for PAD or LOGISTIC).
func hasOptionsStruct(op Opcode) bool {
	switch op {
	case OpLogistic, OpHardSwish, OpQuantize, OpDequantize, OpPad, OpMaximum, OpMinimum:
		return false
	}
	return true
}

// unmodelledError is an option value the schema allows but no edgenas
// kernel implements: the operator still reads, with Operator.Undecoded set.
type unmodelledError struct{ what string }

func (e *unmodelledError) Error() string { return e.what + " not modelled" }

func unmodelled(format string, args ...any) error {
	return &unmodelledError{fmt.Sprintf(format, args...)}
}

// decodeOptions turns an operator's builtin_options into the typed struct for
// op. typ is the union type read from the file; t the table (t.ok false when
// the file has none). A missing table means the schema defaults, except that
// strides, dilations and the depth multiplier become 1 (what a converter
// writes for the identity configuration) and SOFTMAX's beta becomes 1.
func (d *decoder) decodeOptions(op Opcode, typ uint8, t table) (any, error) {
	want := optionsType(op)
	if typ != optNone && typ != want {
		return nil, fmt.Errorf("%v has builtin options of union type %d, want %d", op, typ, want)
	}
	if typ == optNone {
		t = table{}
	}
	missing := !t.ok
	one := int32(1)
	if !missing {
		one = 0 // schema default when a present table omits the field
	}
	var o any
	switch op {
	case OpConv2D:
		o = &Conv2DOptions{
			Padding:    Padding(d.int8Field(t, optPadding, 0)),
			StrideW:    d.int32Field(t, optStrideW, one),
			StrideH:    d.int32Field(t, optStrideH, one),
			Activation: Activation(d.int8Field(t, convActivation, 0)),
			DilationW:  d.int32Field(t, convDilationW, 1),
			DilationH:  d.int32Field(t, convDilationH, 1),
		}
		if bt := d.int8Field(t, convQuantizedBiasType, 0); bt != 0 {
			return nil, unmodelled("CONV_2D quantized_bias_type %v", TensorType(bt))
		}
	case OpDepthwiseConv2D:
		o = &DepthwiseConv2DOptions{
			Padding:         Padding(d.int8Field(t, optPadding, 0)),
			StrideW:         d.int32Field(t, optStrideW, one),
			StrideH:         d.int32Field(t, optStrideH, one),
			DepthMultiplier: d.int32Field(t, dwDepthMultiplier, one),
			Activation:      Activation(d.int8Field(t, dwActivation, 0)),
			DilationW:       d.int32Field(t, dwDilationW, 1),
			DilationH:       d.int32Field(t, dwDilationH, 1),
		}
	case OpAveragePool2D, OpMaxPool2D:
		o = &Pool2DOptions{
			Padding:      Padding(d.int8Field(t, optPadding, 0)),
			StrideW:      d.int32Field(t, optStrideW, one),
			StrideH:      d.int32Field(t, optStrideH, one),
			FilterWidth:  d.int32Field(t, poolFilterWidth, 0),
			FilterHeight: d.int32Field(t, poolFilterHeight, 0),
			Activation:   Activation(d.int8Field(t, poolActivation, 0)),
		}
	case OpFullyConnected:
		fc, err := d.fullyConnectedOptions(t)
		if err != nil {
			return nil, err
		}
		o = fc
	case OpSoftmax:
		beta := float32(1)
		if !missing {
			beta = d.float32Field(t, onlyField, 0)
		}
		o = &SoftmaxOptions{Beta: beta}
	case OpAdd:
		o = &AddOptions{Activation: Activation(d.int8Field(t, onlyField, 0))}
	case OpMul:
		o = &MulOptions{Activation: Activation(d.int8Field(t, onlyField, 0))}
	case OpReshape:
		o = d.reshapeOptions(t)
	case OpTranspose:
		o = &TransposeOptions{}
	case OpMean:
		o = &ReducerOptions{KeepDims: d.boolField(t, onlyField, false)}
	case OpConcatenation, OpResizeBilinear, OpResizeNearestNeighbor, OpSqueeze, OpStridedSlice, OpTransposeConv:
		var err error
		if o, err = d.decodeMoreOptions(op, t, one); err != nil {
			return nil, err
		}
	case OpSub:
		o = &SubOptions{Activation: Activation(d.int8Field(t, 0, 0))}
	default:
		o = nil // options-free operators; their empty tables carry nothing
	}
	if d.err != nil {
		return nil, fmt.Errorf("%v options: %w", op, d.err)
	}
	return o, nil
}

// fullyConnectedOptions decodes FullyConnectedOptions, refusing the
// variants edgenas kernels do not implement.
func (d *decoder) fullyConnectedOptions(t table) (*FullyConnectedOptions, error) {
	o := &FullyConnectedOptions{
		Activation:  Activation(d.int8Field(t, fcActivation, 0)),
		KeepNumDims: d.boolField(t, fcKeepNumDims, false),
	}
	if wf := d.int8Field(t, fcWeightsFormat, 0); wf != 0 {
		return nil, unmodelled("FULLY_CONNECTED weights_format %d", wf)
	}
	if d.boolField(t, fcAsymmetricQuantizeInputs, false) {
		return nil, unmodelled("FULLY_CONNECTED asymmetric_quantize_inputs")
	}
	if bt := d.int8Field(t, fcQuantizedBiasType, 0); bt != 0 {
		return nil, unmodelled("FULLY_CONNECTED quantized_bias_type %v", TensorType(bt))
	}
	return o, nil
}

// reshapeOptions decodes ReshapeOptions. A present but empty new_shape
// (reshape to a scalar) differs from an absent one (shape from the second
// input).
func (d *decoder) reshapeOptions(t table) *ReshapeOptions {
	ro := &ReshapeOptions{NewShape: d.int32s(t, onlyField)}
	if ro.NewShape == nil {
		if v, ok := d.vector(t, onlyField, 4); ok && v.n == 0 {
			ro.NewShape = []int32{}
		}
	}
	return ro
}

// encodeOptions writes op's options table and returns its union type and
// offset (0, 0 when the operator has no options table).
func encodeOptions(b *flatbuffers.Builder, op Opcode, opts any) (uint8, flatbuffers.UOffsetT, error) {
	typ := optionsType(op)
	if typ == optNone {
		return 0, 0, nil
	}
	switch o := opts.(type) {
	case *Conv2DOptions:
		b.StartObject(convSlots)
		b.PrependInt32Slot(optStrideW, o.StrideW, 0)
		b.PrependInt32Slot(optStrideH, o.StrideH, 0)
		b.PrependInt32Slot(convDilationW, o.DilationW, 1)
		b.PrependInt32Slot(convDilationH, o.DilationH, 1)
		b.PrependInt8Slot(optPadding, int8(o.Padding), 0)
		b.PrependInt8Slot(convActivation, int8(o.Activation), 0)
	case *DepthwiseConv2DOptions:
		b.StartObject(dwSlots)
		b.PrependInt32Slot(optStrideW, o.StrideW, 0)
		b.PrependInt32Slot(optStrideH, o.StrideH, 0)
		b.PrependInt32Slot(dwDepthMultiplier, o.DepthMultiplier, 0)
		b.PrependInt32Slot(dwDilationW, o.DilationW, 1)
		b.PrependInt32Slot(dwDilationH, o.DilationH, 1)
		b.PrependInt8Slot(optPadding, int8(o.Padding), 0)
		b.PrependInt8Slot(dwActivation, int8(o.Activation), 0)
	case *Pool2DOptions:
		b.StartObject(poolSlots)
		b.PrependInt32Slot(optStrideW, o.StrideW, 0)
		b.PrependInt32Slot(optStrideH, o.StrideH, 0)
		b.PrependInt32Slot(poolFilterWidth, o.FilterWidth, 0)
		b.PrependInt32Slot(poolFilterHeight, o.FilterHeight, 0)
		b.PrependInt8Slot(optPadding, int8(o.Padding), 0)
		b.PrependInt8Slot(poolActivation, int8(o.Activation), 0)
	case *FullyConnectedOptions:
		b.StartObject(fcSlots)
		b.PrependInt8Slot(fcActivation, int8(o.Activation), 0)
		b.PrependBoolSlot(fcKeepNumDims, o.KeepNumDims, false)
	case *SoftmaxOptions:
		b.StartObject(onlySlots)
		b.PrependFloat32Slot(onlyField, o.Beta, 0)
	case *AddOptions:
		activationTable(b, o.Activation)
	case *MulOptions:
		activationTable(b, o.Activation)
	case *SubOptions:
		activationTable(b, o.Activation)
	case *ReshapeOptions:
		optionalVectorTable(b, o.NewShape)
	case *SqueezeOptions:
		optionalVectorTable(b, o.SqueezeDims)
	case *ReducerOptions:
		b.StartObject(onlySlots)
		b.PrependBoolSlot(onlyField, o.KeepDims, false)
	case *ConcatenationOptions, *ResizeOptions, *StridedSliceOptions, *TransposeConvOptions:
		encodeMoreOptions(b, op, opts)
	case *TransposeOptions, nil:
		// TRANSPOSE, PAD, QUANTIZE, DEQUANTIZE, HARD_SWISH: empty tables,
		// written as the converters do.
		b.StartObject(0)
	default:
		return 0, 0, fmt.Errorf("%v: options of type %T", op, opts)
	}
	return typ, b.EndObject(), nil
}

// activationTable starts a table whose only field is a fused activation
// (AddOptions, MulOptions, SubOptions).
func activationTable(b *flatbuffers.Builder, a Activation) {
	b.StartObject(onlySlots)
	b.PrependInt8Slot(onlyField, int8(a), 0)
}

// optionalVectorTable starts a table whose only field is an [int] vector,
// written only when v is non-nil (ReshapeOptions, SqueezeOptions).
func optionalVectorTable(b *flatbuffers.Builder, v []int32) {
	var off flatbuffers.UOffsetT
	if v != nil {
		off = int32Vector(b, v)
	}
	b.StartObject(onlySlots)
	if v != nil {
		b.PrependUOffsetTSlot(onlyField, off, 0)
	}
}

// int32Vector writes a [int] vector.
func int32Vector(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}
