package tflite

import (
	"fmt"
	"math"
)

// The rule tables below follow each delegate's own support checks, read from
// tensorflow/tensorflow (summarized with versions in the project's
// delegates-and-benchmark-model reference):
//   - XNNPACK: tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc
//     (the Visit*Node checks) and delegates/xnnpack/README.md;
//   - NNAPI: tensorflow/lite/delegates/nnapi/nnapi_delegate.cc (Validate);
//   - GPU: tensorflow/lite/tools/versioning/gpu_compatibility.cc and
//     delegates/gpu/common/model_builder.cc;
//   - Hexagon: tensorflow/lite/delegates/hexagon/README.md, utils.cc
//     (IsNodeSupportedByHexagon) and hexagon_delegate.cc;
//   - operator versions: tensorflow/lite/tools/versioning/op_version.cc.

// perTensorActivations refuses int8 activations with per-channel parameters
// (XNNPACK quantizes activations per tensor only).
func perTensorActivations(c opCtx) string {
	for _, ts := range [][]int{c.op.Inputs, c.op.Outputs} {
		for _, ti := range ts {
			if t := c.m.tensorAt(ti); t != nil && !t.IsConst() && t.Quant.PerChannel() {
				return fmt.Sprintf("activation %q is quantized per channel", t.Name)
			}
		}
	}
	return ""
}

// staticFilter requires constant weights (input 1), per-channel scales along
// axis with zero point 0, and (when biasNeeded) a constant bias.
func staticFilter(axis int32, biasNeeded bool) rule {
	return func(c opCtx) string {
		w := c.in(1)
		if w == nil || !w.IsConst() {
			return "the filter must be a constant"
		}
		if q := w.Quant; q.PerChannel() {
			if q.Axis != axis {
				return fmt.Sprintf("per-channel filter quantized along dimension %d, not %d", q.Axis, axis)
			}
			for _, z := range q.ZeroPoint {
				if z != 0 {
					return "per-channel filter with a non-zero zero point"
				}
			}
		}
		if b := c.in(2); biasNeeded && (b == nil || !b.IsConst()) {
			return "the bias must be a constant (and present)"
		}
		return ""
	}
}

// scaleRatio requires num/out scale in [lo, hi) for int8 operators.
func scaleRatio(name string, num func(c opCtx) float64, lo, hi float64) rule {
	return func(c opCtx) string {
		if !c.int8() {
			return ""
		}
		o := scale(c.out(0))
		if o == 0 {
			return ""
		}
		if r := num(c) / o; r < lo || r >= hi {
			return fmt.Sprintf("%s %.4g is outside [%g, %g)", name, r, lo, hi)
		}
		return ""
	}
}

// convScale is XNNPACK's limit on input*filter/output scale (each channel).
func convScale(c opCtx) string {
	if !c.int8() {
		return ""
	}
	in, o, w := scale(c.in(0)), scale(c.out(0)), c.in(1)
	if w == nil || w.Quant == nil || o == 0 {
		return ""
	}
	for _, s := range w.Quant.Scale {
		if r := in * float64(s) / o; r >= 256 {
			return fmt.Sprintf("input*filter/output scale %.4g is not below 256", r)
		}
	}
	return ""
}

// floatOnly refuses the int8 form of operators a delegate runs in float only.
func floatOnly(c opCtx) string {
	if c.int8() {
		return fmt.Sprintf("int8 %v is not supported (float only)", c.op.Op)
	}
	return ""
}

// sameQuant requires the output to share the input's scale and zero point.
func sameQuant(c opCtx) string {
	a, b := c.in(0), c.out(0)
	if !c.int8() || a == nil || b == nil || a.Quant == nil || b.Quant == nil {
		return ""
	}
	if a.Quant.Scale[0] != b.Quant.Scale[0] || a.Quant.ZeroPoint[0] != b.Quant.ZeroPoint[0] {
		return "input and output quantization differ"
	}
	return ""
}

func xnnpackSpec() delegateSpec {
	filter0 := staticFilter(0, true)
	return delegateSpec{
		name:   DelegateXNNPACK,
		source: "tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc",
		note:   "int8 needs a build with QS8 enabled; recent prebuilt TFLite and LiteRT binaries have it",
		common: func(c opCtx) string {
			if s := maxRank(c, 6); s != "" {
				return s
			}
			if a, ok := fusedActivation(c.op); ok && a == ActTanh {
				return "fused TANH activation"
			}
			return perTensorActivations(c)
		},
		ops: map[Opcode]rule{
			OpConv2D:          allOf(filter0, convScale),
			OpDepthwiseConv2D: allOf(staticFilter(3, true), convScale),
			OpFullyConnected:  allOf(staticFilter(0, false), convScale),
			OpAdd: allOf(
				scaleRatio("input 1/output scale", func(c opCtx) float64 { return scale(c.in(0)) }, 1.0/1024, 256),
				scaleRatio("input 2/output scale", func(c opCtx) float64 { return scale(c.in(1)) }, 1.0/1024, 256)),
			OpMul: scaleRatio("input1*input2/output scale",
				func(c opCtx) float64 { return scale(c.in(0)) * scale(c.in(1)) }, 1.0/65536, 256),
			OpMean:          constInput(1, "the reduction axes"),
			OpLogistic:      accept,
			OpMaxPool2D:     accept,
			OpAveragePool2D: floatOnly,
			OpSoftmax:       floatOnly,
			OpHardSwish:     floatOnly,
			OpReshape:       sameQuant,
			OpTranspose:     constInput(1, "the permutation"),
			OpPad:           constInput(1, "the paddings"),
			OpQuantize:      xnnpackQuantize,
			OpDequantize: func(c opCtx) string {
				if t := c.in(0); t != nil && t.Quant.PerChannel() {
					return "per-channel input"
				}
				return ""
			},
		},
	}
}

// xnnpackQuantize: float to int8, or int8 to int8 with a scale ratio in
// [1/256, 128].
func xnnpackQuantize(c opCtx) string {
	in := c.in(0)
	if in == nil || in.Type == Float32 {
		return ""
	}
	o := scale(c.out(0))
	if o == 0 {
		return ""
	}
	if r := scale(in) / o; r < 1.0/256 || r > 128 {
		return fmt.Sprintf("requantization ratio %.4g is outside [1/256, 128]", r)
	}
	return ""
}

// needAPI refuses int8 operators below Android API level min.
func needAPI(min int, what string) rule {
	return func(c opCtx) string {
		if c.int8() && c.api < min {
			return fmt.Sprintf("%s needs Android API %d or later (checked at %d)", what, min, c.api)
		}
		return ""
	}
}

func nnapiSpec(api int) delegateSpec {
	int8Ops := needAPI(29, "int8")
	return delegateSpec{
		name:   DelegateNNAPI,
		source: fmt.Sprintf("tensorflow/lite/delegates/nnapi/nnapi_delegate.cc (Validate), at Android API %d", api),
		note: "no accelerator named: the rules of the default device set; a named accelerator's driver can refuse more, " +
			"and below API 30 int8 is rewritten as uint8",
		common: func(c opCtx) string { return "" },
		ops: map[Opcode]rule{
			OpConv2D:          allOf(maxVersion(5, ""), int8Ops),
			OpDepthwiseConv2D: allOf(maxVersion(3, ""), int8Ops),
			OpFullyConnected: allOf(
				func(c opCtx) string {
					if len(c.op.Inputs) < 3 || c.op.Inputs[2] < 0 {
						return "no bias (version 6) is not supported"
					}
					return ""
				},
				maxVersion(5, ""), int8Ops,
				func(c opCtx) string {
					if o, ok := c.op.Options.(*FullyConnectedOptions); ok && o.KeepNumDims && c.api < 30 {
						return fmt.Sprintf("keep_num_dims needs Android API 30 or later (checked at %d)", c.api)
					}
					return ""
				}),
			OpAdd:       maxVersion(2, ""),
			OpMul:       maxVersion(2, "input1*input2/output scale >= 1; taken only when an accelerator is named"),
			OpMean:      allOf(maxVersion(2, ""), int8Ops, nnapiMeanOutput),
			OpLogistic:  maxVersion(2, ""),
			OpHardSwish: accept, // decomposed into NNAPI operations below API 30
			OpSoftmax: allOf(maxVersion(2, ""), func(c opCtx) string {
				if t := c.in(0); t != nil && len(t.Shape) > 4 {
					return fmt.Sprintf("input rank %d is above 4", len(t.Shape))
				}
				return ""
			}),
			OpAveragePool2D: allOf(maxVersion(2, ""), func(c opCtx) string {
				if o, ok := c.op.Options.(*Pool2DOptions); ok && c.int8() && o.FilterWidth*o.FilterHeight > 256 {
					return fmt.Sprintf("a %dx%d window is above 256 elements (allowed only with a named accelerator)", o.FilterWidth, o.FilterHeight)
				}
				return ""
			}),
			OpMaxPool2D: maxVersion(2, ""),
			OpReshape:   allOf(maxVersion(1, ""), nnapiReshapeShape),
			OpPad:       allOf(maxVersion(2, ""), int8Ops),
			OpTranspose: allOf(maxVersion(2, ""), int8Ops),
			OpQuantize: allOf(needAPI(29, "QUANTIZE"), func(c opCtx) string {
				if o := c.out(0); o != nil && o.Type == Int8 && c.api < 30 {
					return fmt.Sprintf("an int8 output needs Android API 30 or later (checked at %d)", c.api)
				}
				if c.api < 29 {
					return fmt.Sprintf("QUANTIZE needs Android API 29 or later (checked at %d)", c.api)
				}
				return ""
			}),
			OpDequantize: needAPI(29, "int8 DEQUANTIZE"),
		},
	}
}

func nnapiMeanOutput(c opCtx) string {
	if o := c.out(0); o != nil && len(o.Shape) == 0 {
		return "a scalar output is not supported"
	}
	return ""
}

// nnapiReshapeShape: the new shape must be known when the model is built
// (a constant second input or the options' new_shape).
func nnapiReshapeShape(c opCtx) string {
	if t := c.in(1); t != nil && !t.IsConst() {
		return "the new shape must be a constant"
	}
	return ""
}

func gpuSpec() delegateSpec {
	return delegateSpec{
		name:   DelegateGPU,
		source: "tensorflow/lite/tools/versioning/gpu_compatibility.cc, delegates/gpu/common/model_builder.cc",
		note: "computes in floating point (int8 weights are dequantized at init); by default only the largest " +
			"partition is delegated",
		common: func(c opCtx) string { return maxRank(c, 4) },
		ops: map[Opcode]rule{
			OpConv2D: maxVersion(6, ""),
			OpDepthwiseConv2D: allOf(maxVersion(6, ""), func(c opCtx) string {
				o, ok := c.op.Options.(*DepthwiseConv2DOptions)
				if in := c.in(0); ok && o.DepthMultiplier != 1 && in != nil && dim(in, 3) != 1 {
					return fmt.Sprintf("depth multiplier %d with %d input channels (only 1 channel allows a multiplier)", o.DepthMultiplier, dim(in, 3))
				}
				return ""
			}),
			OpFullyConnected: allOf(maxVersion(9, ""), func(c opCtx) string {
				o, ok := c.op.Options.(*FullyConnectedOptions)
				if in, out := c.in(0), c.out(0); ok && o.KeepNumDims && in != nil && out != nil && len(in.Shape) != len(out.Shape) {
					return fmt.Sprintf("keep_num_dims with input rank %d and output rank %d", len(in.Shape), len(out.Shape))
				}
				return ""
			}),
			OpAdd:      maxVersion(2, ""),
			OpMul:      maxVersion(3, ""),
			OpMean:     allOf(maxVersion(2, ""), constInput(1, "the reduction axes")),
			OpLogistic: maxVersion(2, ""),
			OpSoftmax: allOf(maxVersion(2, ""), func(c opCtx) string {
				if o, ok := c.op.Options.(*SoftmaxOptions); ok && math.Abs(float64(o.Beta)-1) > 0 {
					return fmt.Sprintf("beta %g (only 1 is supported)", o.Beta)
				}
				return ""
			}),
			OpAveragePool2D: maxVersion(2, ""),
			OpMaxPool2D:     maxVersion(2, ""),
			OpHardSwish:     accept,
			OpReshape:       maxVersion(1, ""),
			OpPad:           maxVersion(2, ""),
			OpTranspose:     maxVersion(2, ""),
			OpQuantize:      maxVersion(2, ""),
			OpDequantize:    maxVersion(3, ""),
		},
	}
}

// hexagonActivation allows only the ReLU family of fused activations.
func hexagonActivation(c opCtx) string {
	if a, ok := fusedActivation(c.op); ok && a != ActNone && a != ActRelu && a != ActRelu6 && a != ActReluN1To1 {
		return fmt.Sprintf("fused %v activation (only the ReLU family)", a)
	}
	return ""
}

// hexagonStride refuses convolution strides above 3.
func hexagonStride(sw, sh int32) string {
	if sw > 3 || sh > 3 {
		return fmt.Sprintf("stride %dx%d is above 3", sw, sh)
	}
	return ""
}

// noFusedActivation refuses any fused activation (Hexagon's pools).
func noFusedActivation(c opCtx) string {
	if a, ok := fusedActivation(c.op); ok && a != ActNone {
		return fmt.Sprintf("fused %v activation on a pool", a)
	}
	return ""
}

func hexagonSpec() delegateSpec {
	return delegateSpec{
		name:   DelegateHexagon,
		source: "tensorflow/lite/delegates/hexagon/README.md, utils.cc (IsNodeSupportedByHexagon)",
		note: "Snapdragon 820-855 DSPs (Hexagon 680-690) only; newer DSPs log \"Hexagon Delegate is not supported\" " +
			"and run on the CPU; at most 4 partitions by default",
		minPartition: 2,
		common: func(c opCtx) string {
			if s := maxRank(c, 4); s != "" {
				return s
			}
			for k, ti := range c.op.Inputs {
				t := c.m.tensorAt(ti)
				if t == nil || (t.IsConst() && t.Type == Int32) {
					continue // biases, axes, shapes
				}
				if t.Type != Int8 && t.Type != Uint8 {
					return fmt.Sprintf("input %d is %v (8-bit operators only)", k, t.Type)
				}
			}
			return hexagonActivation(c)
		},
		ops: map[Opcode]rule{
			OpConv2D: allOf(maxVersion(3, ""), func(c opCtx) string {
				o, ok := c.op.Options.(*Conv2DOptions)
				if !ok {
					return ""
				}
				if o.DilationW > 1 || o.DilationH > 1 {
					return "dilated convolution"
				}
				return hexagonStride(o.StrideW, o.StrideH)
			}),
			OpDepthwiseConv2D: allOf(maxVersion(3, ""), func(c opCtx) string {
				o, ok := c.op.Options.(*DepthwiseConv2DOptions)
				if !ok {
					return ""
				}
				if in := c.in(0); o.DepthMultiplier > 1 && in != nil && dim(in, 3) != 1 {
					return fmt.Sprintf("depth multiplier %d with %d input channels", o.DepthMultiplier, dim(in, 3))
				}
				return hexagonStride(o.StrideW, o.StrideH)
			}),
			OpFullyConnected: allOf(func(c opCtx) string {
				if o, ok := c.op.Options.(*FullyConnectedOptions); ok && o.KeepNumDims {
					return "keep_num_dims is not supported"
				}
				return ""
			}, maxVersion(4, "")),
			OpAdd:           maxVersion(2, ""),
			OpMul:           maxVersion(2, "input1*input2/output scale >= 1"),
			OpMean:          maxVersion(2, ""),
			OpLogistic:      maxVersion(2, ""),
			OpHardSwish:     accept,
			OpSoftmax:       maxVersion(2, ""),
			OpAveragePool2D: allOf(maxVersion(2, ""), noFusedActivation),
			OpMaxPool2D:     allOf(maxVersion(2, ""), noFusedActivation),
			OpReshape:       maxVersion(1, ""),
			OpPad:           maxVersion(2, ""),
			OpTranspose:     maxVersion(2, ""),
			OpQuantize:      accept, // a float input was refused above
			OpDequantize:    func(opCtx) string { return "DEQUANTIZE is not supported" },
		},
	}
}
