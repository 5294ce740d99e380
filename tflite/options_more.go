package tflite

import flatbuffers "github.com/google/flatbuffers/go"

// decodeMoreOptions decodes the options of CONCATENATION, RESIZE_*,
// SQUEEZE, STRIDED_SLICE and TRANSPOSE_CONV (field numbers from schema.fbs);
// one is the stride default (see decodeOptions).
func (d *decoder) decodeMoreOptions(op Opcode, t table, one int32) (any, error) {
	switch op {
	case OpConcatenation:
		return &ConcatenationOptions{Axis: d.int32Field(t, 0, 0), Activation: Activation(d.int8Field(t, 1, 0))}, nil
	case OpResizeBilinear: // fields 0 and 1 are the deprecated new_height and new_width
		return &ResizeOptions{AlignCorners: d.boolField(t, 2, false), HalfPixelCenters: d.boolField(t, 3, false)}, nil
	case OpResizeNearestNeighbor:
		return &ResizeOptions{AlignCorners: d.boolField(t, 0, false), HalfPixelCenters: d.boolField(t, 1, false)}, nil
	case OpSqueeze:
		return &SqueezeOptions{SqueezeDims: d.int32s(t, 0)}, nil
	case OpStridedSlice:
		return &StridedSliceOptions{BeginMask: d.int32Field(t, 0, 0), EndMask: d.int32Field(t, 1, 0),
			EllipsisMask: d.int32Field(t, 2, 0), NewAxisMask: d.int32Field(t, 3, 0),
			ShrinkAxisMask: d.int32Field(t, 4, 0), Offset: d.boolField(t, 5, false)}, nil
	case OpTransposeConv:
		if bt := d.int8Field(t, 4, 0); bt != 0 {
			return nil, unmodelled("TRANSPOSE_CONV quantized_bias_type %v", TensorType(bt))
		}
		return &TransposeConvOptions{Padding: Padding(d.int8Field(t, 0, 0)), StrideW: d.int32Field(t, 1, one),
			StrideH: d.int32Field(t, 2, one), Activation: Activation(d.int8Field(t, 3, 0))}, nil
	}
	return nil, nil
}

// encodeMoreOptions starts the options table of the operators
// decodeMoreOptions reads (the caller ends it).
func encodeMoreOptions(b *flatbuffers.Builder, op Opcode, opts any) {
	switch o := opts.(type) {
	case *ConcatenationOptions:
		b.StartObject(2)
		b.PrependInt32Slot(0, o.Axis, 0)
		b.PrependInt8Slot(1, int8(o.Activation), 0)
	case *ResizeOptions:
		first := 0 // RESIZE_NEAREST_NEIGHBOR's fields; RESIZE_BILINEAR's follow two deprecated ones
		if op == OpResizeBilinear {
			first = 2
		}
		b.StartObject(first + 2)
		b.PrependBoolSlot(first, o.AlignCorners, false)
		b.PrependBoolSlot(first+1, o.HalfPixelCenters, false)
	case *StridedSliceOptions:
		b.StartObject(6)
		b.PrependInt32Slot(0, o.BeginMask, 0)
		b.PrependInt32Slot(1, o.EndMask, 0)
		b.PrependInt32Slot(2, o.EllipsisMask, 0)
		b.PrependInt32Slot(3, o.NewAxisMask, 0)
		b.PrependInt32Slot(4, o.ShrinkAxisMask, 0)
		b.PrependBoolSlot(5, o.Offset, false)
	case *TransposeConvOptions:
		b.StartObject(4)
		b.PrependInt32Slot(1, o.StrideW, 0)
		b.PrependInt32Slot(2, o.StrideH, 0)
		b.PrependInt8Slot(0, int8(o.Padding), 0)
		b.PrependInt8Slot(3, int8(o.Activation), 0)
	}
}
