// Package tflite reads and writes TensorFlow Lite flatbuffer models (file
// identifier "TFL3", schema version 3) for the operators edgenas search spaces
// use, and describes them (shapes, quantization, MACs, parameters).
//
// The in-memory form is decoded, not a lazy view over the flatbuffer: runtimes
// and the quantizer want plain Go values, and a decoded model can be checked
// once, at read time, so no later code has to distrust offsets.
package tflite

import "fmt"

// TensorType is the element type of a tensor, numbered as in schema.fbs.
type TensorType int8

// Tensor types of schema.fbs, with their schema values.
const (
	Float32    TensorType = 0
	Float16    TensorType = 1
	Int32      TensorType = 2
	Uint8      TensorType = 3
	Int64      TensorType = 4
	String     TensorType = 5
	Bool       TensorType = 6
	Int16      TensorType = 7
	Complex64  TensorType = 8
	Int8       TensorType = 9
	Float64    TensorType = 10
	Complex128 TensorType = 11
	Uint64     TensorType = 12
	Resource   TensorType = 13
	Variant    TensorType = 14
	Uint32     TensorType = 15
	Uint16     TensorType = 16
	Int4       TensorType = 17
	BFloat16   TensorType = 18
)

var typeNames = [...]string{"float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64",
	"int8", "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4", "bfloat16"}

// Known reports whether t is a type of the schema.
func (t TensorType) Known() bool { return t >= 0 && int(t) < len(typeNames) }

// Size is the size in bytes of one element, or 0 for a type without a fixed
// whole-byte element size (string, resource, variant, packed int4) or
// outside the schema. Runtimes refuse tensors of size 0.
func (t TensorType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Float16, Int16, Uint16, BFloat16:
		return 2
	case Float32, Int32, Uint32:
		return 4
	case Int64, Uint64, Float64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// dataBytes is the size in bytes of n elements of a type stored densely
// (int4 packs two to a byte), or -1 when the size is not a function of n
// (strings, resources, variants).
func (t TensorType) dataBytes(n int64) int64 {
	if t == Int4 {
		return (n + 1) / 2
	}
	if s := t.Size(); s > 0 {
		return n * int64(s)
	}
	return -1
}

func (t TensorType) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", int8(t))
}

// Opcode is a TFLite builtin operator code, numbered as in schema.fbs.
type Opcode int32

// Builtin operators edgenas models (typed options, strict validation) and
// runs; values from schema.fbs. Every other code still reads (see
// builtinNames); OpCustom marks a custom operator (Operator.CustomCode).
const (
	OpAdd                   Opcode = 0
	OpAveragePool2D         Opcode = 1
	OpConcatenation         Opcode = 2
	OpConv2D                Opcode = 3
	OpDepthwiseConv2D       Opcode = 4
	OpDequantize            Opcode = 6
	OpFullyConnected        Opcode = 9
	OpLogistic              Opcode = 14
	OpMaxPool2D             Opcode = 17
	OpMul                   Opcode = 18
	OpReshape               Opcode = 22
	OpResizeBilinear        Opcode = 23
	OpSoftmax               Opcode = 25
	OpCustom                Opcode = 32
	OpPad                   Opcode = 34
	OpTranspose             Opcode = 39
	OpMean                  Opcode = 40
	OpSub                   Opcode = 41
	OpSqueeze               Opcode = 43
	OpStridedSlice          Opcode = 45
	OpMaximum               Opcode = 55
	OpMinimum               Opcode = 57
	OpTransposeConv         Opcode = 67
	OpResizeNearestNeighbor Opcode = 97
	OpQuantize              Opcode = 114
	OpHardSwish             Opcode = 117
)

// String returns the schema name (CONV_2D), or BUILTIN_n for a code newer
// than the name table.
func (o Opcode) String() string {
	if o >= 0 && int(o) < len(builtinNames) {
		return builtinNames[o]
	}
	return fmt.Sprintf("BUILTIN_%d", int32(o))
}

// Supported reports whether edgenas models operator o: decodes its options
// into a typed struct, validates it strictly and can write it. Other
// operators read (for inspecting, hashing and deploying) but do not write.
func (o Opcode) Supported() bool { _, ok := arities[o]; return ok }

// Padding is a convolution/pooling padding scheme (schema.fbs values).
type Padding int8

// Padding schemes.
const (
	PaddingSame  Padding = 0
	PaddingValid Padding = 1
)

func (p Padding) String() string {
	if p == PaddingSame {
		return "SAME"
	}
	if p == PaddingValid {
		return "VALID"
	}
	return fmt.Sprintf("padding(%d)", int8(p))
}

// Activation is a fused activation function (schema.fbs values).
type Activation int8

// Fused activations.
const (
	ActNone      Activation = 0
	ActRelu      Activation = 1
	ActReluN1To1 Activation = 2
	ActRelu6     Activation = 3
	ActTanh      Activation = 4
)

func (a Activation) String() string {
	switch a {
	case ActNone:
		return "NONE"
	case ActRelu:
		return "RELU"
	case ActReluN1To1:
		return "RELU_N1_TO_1"
	case ActRelu6:
		return "RELU6"
	case ActTanh:
		return "TANH"
	}
	return fmt.Sprintf("act(%d)", int8(a))
}

// Quantization holds affine quantization parameters: real = Scale * (q - ZeroPoint).
// One scale means per-tensor; len(Scale) == Shape[Axis] means per channel along Axis.
type Quantization struct {
	Scale     []float32
	ZeroPoint []int64
	// Axis is schema.fbs's quantized_dimension. It is kept as read even when it
	// does not index the shape (person_detect.tflite gives 1-D biases axis 3).
	Axis int32
	// Min and Max are the optional float ranges some converters record.
	Min, Max []float32
	// Custom marks custom quantization details (not decoded); runtimes
	// must not trust Scale and ZeroPoint alone.
	Custom bool
}

// PerChannel reports whether q has more than one scale.
func (q *Quantization) PerChannel() bool { return q != nil && len(q.Scale) > 1 }

// Tensor is one tensor of the model's graph.
type Tensor struct {
	Name  string
	Type  TensorType
	Shape []int32
	// Data holds the constant contents (little-endian), or nil for activations.
	Data  []byte
	Quant *Quantization // nil when the tensor is not quantized
	// Variable marks state an operator updates in place (LSTM, SVDF); its
	// Data, if any, is the initial value.
	Variable bool
	// Sparse marks a tensor stored in the schema's sparse format: Data
	// holds the compressed values, whose size the shape does not give.
	Sparse bool
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// Bytes is the tensor's size in bytes.
func (t *Tensor) Bytes() int { return t.NumElements() * t.Type.Size() }

// IsConst reports whether the tensor has constant data.
func (t *Tensor) IsConst() bool { return t.Data != nil }

// Operator is one node of the graph. Inputs and Outputs index Model.Tensors;
// -1 marks an omitted optional input (a FULLY_CONNECTED without bias).
type Operator struct {
	Op      Opcode
	Version int32
	Inputs  []int
	Outputs []int
	// Options is one of the *Options types below, matching Op, or nil for
	// operators without options (LOGISTIC, HARD_SWISH, QUANTIZE, DEQUANTIZE,
	// PAD) and for operators edgenas does not model.
	Options any
	// CustomCode names a custom operator (Op is OpCustom).
	CustomCode string
	// Undecoded says what of the operator edgenas read but does not model
	// (an unmodelled operator's options, a custom operator's options, an
	// option value no edgenas kernel implements), or is "". Such an operator
	// inspects, hashes and deploys, but no edgenas backend runs it and Write
	// refuses it.
	Undecoded string
}

// Name is the operator's display name: the schema name, or for a custom
// operator CUSTOM(code).
func (o *Operator) Name() string {
	if o.Op == OpCustom {
		return "CUSTOM(" + o.CustomCode + ")"
	}
	return o.Op.String()
}

// Conv2DOptions are CONV_2D's options.
type Conv2DOptions struct {
	Padding              Padding
	StrideW, StrideH     int32
	Activation           Activation
	DilationW, DilationH int32
}

// DepthwiseConv2DOptions are DEPTHWISE_CONV_2D's options.
type DepthwiseConv2DOptions struct {
	Padding              Padding
	StrideW, StrideH     int32
	DepthMultiplier      int32
	Activation           Activation
	DilationW, DilationH int32
}

// Pool2DOptions are AVERAGE_POOL_2D's and MAX_POOL_2D's options.
type Pool2DOptions struct {
	Padding                   Padding
	StrideW, StrideH          int32
	FilterWidth, FilterHeight int32
	Activation                Activation
}

// AddOptions are ADD's options.
type AddOptions struct {
	Activation Activation
}

// MulOptions are MUL's options.
type MulOptions struct {
	Activation Activation
}

// FullyConnectedOptions are FULLY_CONNECTED's options (default weights format).
type FullyConnectedOptions struct {
	Activation  Activation
	KeepNumDims bool
}

// ReducerOptions are MEAN's options; the axes are the operator's second input.
type ReducerOptions struct {
	KeepDims bool
}

// ReshapeOptions are RESHAPE's options. NewShape may be nil when the shape
// comes from the operator's second input (as newer converters write it).
type ReshapeOptions struct {
	NewShape []int32
}

// SoftmaxOptions are SOFTMAX's options.
type SoftmaxOptions struct {
	Beta float32
}

// TransposeOptions are TRANSPOSE's options (none; the permutation is input 1).
type TransposeOptions struct{}

// ConcatenationOptions are CONCATENATION's options.
type ConcatenationOptions struct {
	Axis       int32
	Activation Activation
}

// ResizeOptions are RESIZE_BILINEAR's and RESIZE_NEAREST_NEIGHBOR's options;
// the output size is the operator's second input.
type ResizeOptions struct {
	AlignCorners     bool
	HalfPixelCenters bool
}

// SubOptions are SUB's options.
type SubOptions struct {
	Activation Activation
}

// SqueezeOptions are SQUEEZE's options: the dimensions to drop (all of
// size 1 when empty).
type SqueezeOptions struct {
	SqueezeDims []int32
}

// StridedSliceOptions are STRIDED_SLICE's options; begin, end and strides
// are inputs 1 to 3. Bit i of a mask refers to dimension i.
type StridedSliceOptions struct {
	BeginMask, EndMask, EllipsisMask, NewAxisMask, ShrinkAxisMask int32
	// Offset means end is relative to begin.
	Offset bool
}

// TransposeConvOptions are TRANSPOSE_CONV's options. Inputs are the output
// shape, the filter [OC, KH, KW, IC], the input and an optional bias.
type TransposeConvOptions struct {
	Padding          Padding
	StrideW, StrideH int32
	Activation       Activation
}

// Model is one TFLite model, decoded. Its fields describe the main
// subgraph (subgraph 0, the one an interpreter runs); Subgraphs holds the
// others (bodies of WHILE, IF, CALL_ONCE...).
type Model struct {
	// Version is the schema version (3).
	Version     uint32
	Description string
	// Name is the subgraph's name.
	Name      string
	Tensors   []Tensor
	Operators []Operator
	Inputs    []int
	Outputs   []int
	// Subgraphs are subgraphs 1..n of the file, in order.
	Subgraphs []Subgraph
	// Signatures are the file's signature defs (named entry points).
	Signatures []Signature
	// Metadata are the file's named metadata buffers.
	Metadata []Metadata
}

// Subgraph is one subgraph beyond the main one.
type Subgraph struct {
	Name      string
	Tensors   []Tensor
	Operators []Operator
	Inputs    []int
	Outputs   []int
}

// Signature is a named entry point of the model: which tensors of which
// subgraph its named inputs and outputs are.
type Signature struct {
	Key      string
	Subgraph int
	Inputs   []SignatureTensor
	Outputs  []SignatureTensor
}

// SignatureTensor maps a signature's argument name to a tensor index.
type SignatureTensor struct {
	Name   string
	Tensor int
}

// Metadata is one named metadata entry and the size of its buffer (the
// bytes themselves, label files or model cards, are not kept).
type Metadata struct {
	Name  string
	Bytes int
}

// Input returns the i-th graph input tensor.
func (m *Model) Input(i int) *Tensor { return &m.Tensors[m.Inputs[i]] }

// Output returns the i-th graph output tensor.
func (m *Model) Output(i int) *Tensor { return &m.Tensors[m.Outputs[i]] }
