//go:build cgo

package xnnpack

/*
#include <xnnpack.h>
*/
import "C"

import (
	"fmt"
	"slices"

	"edgenas/tflite"
)

// Translations of the vision and audio operators onto the nodes this
// XNNPACK version has, as TFLite's XNNPACK delegate maps them: SUB onto
// subtract, MAXIMUM/MINIMUM onto maximum2/minimum2, SQUEEZE onto a static
// reshape, RESIZE_BILINEAR onto static_resize_bilinear_2d (half-pixel
// centers, align corners or TensorFlow's legacy mode by flag) and
// TRANSPOSE_CONV onto deconvolution_2d. Whether the library accepts each
// for int8 is its own decision (Plan probes): this version refuses int8
// MAXIMUM/MINIMUM and per-channel deconvolution filters, which then run on
// ref; CONCATENATION, STRIDED_SLICE and RESIZE_NEAREST_NEIGHBOR have no
// node here at all.
var moreOps = map[tflite.Opcode]bool{
	tflite.OpSub: true, tflite.OpMaximum: true, tflite.OpMinimum: true, tflite.OpSqueeze: true,
	tflite.OpResizeBilinear: true, tflite.OpTransposeConv: true,
}

// defineMoreOp adds one of moreOps to the subgraph, checking its shapes
// first (XNNPACK sizes writes from its inputs).
func (b *builder) defineMoreOp(op *tflite.Operator) error {
	m, out := b.m, op.Outputs[0]
	for i, t := range op.Inputs {
		if t < 0 && !(op.Op == tflite.OpTransposeConv && i == 3) {
			return fmt.Errorf("input %d is omitted", i)
		}
	}
	switch op.Op {
	case tflite.OpSub, tflite.OpMaximum, tflite.OpMinimum:
		if len(op.Inputs) != 2 {
			return fmt.Errorf("%d inputs, want 2", len(op.Inputs))
		}
		want, err := broadcastShape(m.Tensors[op.Inputs[0]].Shape, m.Tensors[op.Inputs[1]].Shape)
		if err != nil {
			return err
		}
		if !slices.Equal(want, m.Tensors[out].Shape) {
			return fmt.Errorf("output shape %v, inputs imply %v", m.Tensors[out].Shape, want)
		}
		ids, err := b.values(op.Inputs[0], op.Inputs[1], out)
		if err != nil {
			return err
		}
		switch op.Op {
		case tflite.OpSub:
			o, ok := op.Options.(*tflite.SubOptions)
			if !ok || o == nil {
				return fmt.Errorf("missing SubOptions")
			}
			lo, hi, err := b.outputRange(o.Activation, out)
			if err != nil {
				return err
			}
			return check("xnn_define_subtract", C.xnn_define_subtract(b.sg, lo, hi, ids[0], ids[1], ids[2], 0))
		}
		// TFLite compares int8 values as stored: all three share one grid.
		for _, t := range op.Inputs {
			if err := sameQuant(&m.Tensors[t], &m.Tensors[out]); err != nil {
				return err
			}
		}
		if op.Op == tflite.OpMaximum {
			return check("xnn_define_maximum2", C.xnn_define_maximum2(b.sg, ids[0], ids[1], ids[2], 0))
		}
		return check("xnn_define_minimum2", C.xnn_define_minimum2(b.sg, ids[0], ids[1], ids[2], 0))
	case tflite.OpSqueeze:
		in := &m.Tensors[op.Inputs[0]]
		o, ok := op.Options.(*tflite.SqueezeOptions)
		if !ok || o == nil {
			return fmt.Errorf("missing SqueezeOptions")
		}
		want, err := tflite.SqueezedShape(in.Shape, o.SqueezeDims)
		if err != nil {
			return err
		}
		if !slices.Equal(want, m.Tensors[out].Shape) {
			return fmt.Errorf("output shape %v, squeeze gives %v", m.Tensors[out].Shape, want)
		}
		if err := sameQuant(in, &m.Tensors[out]); err != nil {
			return err
		}
		ids, err := b.values(op.Inputs[0], out)
		if err != nil {
			return err
		}
		dims := sizes(m.Tensors[out].Shape)
		return check("xnn_define_static_reshape", C.xnn_define_static_reshape(b.sg, C.size_t(len(dims)), sizesPtr(dims), ids[0], ids[1], 0))
	case tflite.OpResizeBilinear:
		return b.resizeBilinear(op)
	case tflite.OpTransposeConv:
		return b.transposeConv(op)
	}
	return fmt.Errorf("no XNNPACK translation for %v", op.Op)
}

func (b *builder) resizeBilinear(op *tflite.Operator) error {
	m, out := b.m, op.Outputs[0]
	o, ok := op.Options.(*tflite.ResizeOptions)
	if !ok || o == nil {
		return fmt.Errorf("missing ResizeOptions")
	}
	in, os := m.Tensors[op.Inputs[0]].Shape, m.Tensors[out].Shape
	size, err := constInts(m, op.Inputs[1])
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if len(in) != 4 || len(os) != 4 || len(size) != 2 || os[0] != in[0] || os[3] != in[3] ||
		int64(os[1]) != size[0] || int64(os[2]) != size[1] {
		return fmt.Errorf("input %v, size %v and output %v do not match", in, size, os)
	}
	if err := sameQuant(&m.Tensors[op.Inputs[0]], &m.Tensors[out]); err != nil {
		return err
	}
	var flags C.uint32_t
	switch {
	case o.AlignCorners:
		flags = C.XNN_FLAG_ALIGN_CORNERS
	case !o.HalfPixelCenters:
		flags = C.XNN_FLAG_TENSORFLOW_LEGACY_MODE
	}
	ids, err := b.values(op.Inputs[0], out)
	if err != nil {
		return err
	}
	return check("xnn_define_static_resize_bilinear_2d", C.xnn_define_static_resize_bilinear_2d(b.sg,
		C.size_t(os[1]), C.size_t(os[2]), ids[0], ids[1], flags))
}

// transposeConv maps TRANSPOSE_CONV (output shape, filter [OC,KH,KW,IC],
// input, bias) onto a deconvolution: TFLite's padding of the equivalent
// convolution split before/after, the remainder as output adjustment.
func (b *builder) transposeConv(op *tflite.Operator) error {
	m, out := b.m, op.Outputs[0]
	o, ok := op.Options.(*tflite.TransposeConvOptions)
	if !ok || o == nil {
		return fmt.Errorf("missing TransposeConvOptions")
	}
	if len(op.Inputs) < 3 {
		return fmt.Errorf("%d inputs, want 3 or 4", len(op.Inputs))
	}
	f, in, os := m.Tensors[op.Inputs[1]].Shape, m.Tensors[op.Inputs[2]].Shape, m.Tensors[out].Shape
	if len(f) != 4 || len(in) != 4 || len(os) != 4 || os[0] != in[0] || f[0] != os[3] || f[3] != in[3] {
		return fmt.Errorf("filter %v, input %v and output %v do not match", f, in, os)
	}
	if o.StrideH < 1 || o.StrideW < 1 {
		return fmt.Errorf("stride %dx%d", o.StrideH, o.StrideW)
	}
	// TFLite sizes the output from input 0; it must be the tensor's shape.
	shape, err := constInts(m, op.Inputs[0])
	if err != nil {
		return fmt.Errorf("output shape: %w", err)
	}
	if len(shape) != 4 || shape[0] != int64(os[0]) || shape[1] != int64(os[1]) || shape[2] != int64(os[2]) || shape[3] != int64(os[3]) {
		return fmt.Errorf("output shape input %v differs from the output tensor %v", shape, os)
	}
	pads := func(outSize, inSize, k, s int32) (before, after, adj int32, err error) {
		if int(inSize) != tflite.ConvOutputSize(int(outSize), int(k), int(s), 1, o.Padding) {
			return 0, 0, 0, fmt.Errorf("input size %d does not match output %d (kernel %d, stride %d, %v)", inSize, outSize, k, s, o.Padding)
		}
		bf, af := tflite.ComputePadding(int(outSize), int(k), int(s), 1, o.Padding)
		adj = outSize - ((inSize-1)*s + k - int32(bf+af))
		if adj < 0 || adj >= s {
			return 0, 0, 0, fmt.Errorf("output adjustment %d outside [0, stride %d)", adj, s)
		}
		return int32(bf), int32(af), adj, nil
	}
	pt, pb, ah, err := pads(os[1], in[1], f[1], o.StrideH)
	if err != nil {
		return err
	}
	pl, pr, aw, err := pads(os[2], in[2], f[2], o.StrideW)
	if err != nil {
		return err
	}
	lo, hi, err := b.outputRange(o.Activation, out)
	if err != nil {
		return err
	}
	x, err := b.value(op.Inputs[2], 0)
	if err != nil {
		return err
	}
	if q := m.Tensors[op.Inputs[1]].Quant; q != nil && q.PerChannel() {
		return fmt.Errorf("int8 TRANSPOSE_CONV with a per-channel filter: this XNNPACK has no qcint8 deconvolution; runs on edgenas's copy of TFLite's XNNPACK delegate's arithmetic")
	}
	w, err := b.filter(op.Inputs[1], 0, 4)
	if err != nil {
		return err
	}
	bias := invalidID
	if len(op.Inputs) > 3 && op.Inputs[3] >= 0 {
		t := &m.Tensors[op.Inputs[3]]
		if !t.IsConst() || t.Type != tflite.Int32 || len(t.Shape) != 1 || t.Shape[0] != f[0] {
			return fmt.Errorf("bias %q must be a constant int32 [%d]", t.Name, f[0])
		}
		if bias, err = b.value(op.Inputs[3], 0); err != nil {
			return err
		}
	}
	y, err := b.value(out, 0)
	if err != nil {
		return err
	}
	return check("xnn_define_deconvolution_2d", C.xnn_define_deconvolution_2d(b.sg, C.uint32_t(pt), C.uint32_t(pr),
		C.uint32_t(pb), C.uint32_t(pl), C.uint32_t(ah), C.uint32_t(aw), C.uint32_t(f[1]), C.uint32_t(f[2]),
		C.uint32_t(o.StrideH), C.uint32_t(o.StrideW), 1, 1, 1, C.size_t(f[3]), C.size_t(f[0]), lo, hi, x, w, bias, y, 0))
}
