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

// Tensor types used by edgenas models (values from schema.fbs).
const (
	Float32 TensorType = 0
	Float16 TensorType = 1
	Int32   TensorType = 2
	Uint8   TensorType = 3
	Int64   TensorType = 4
	Int16   TensorType = 7
	Int8    TensorType = 9
)

// Size is the size in bytes of one element, or 0 for a type edgenas does not handle.
func (t TensorType) Size() int {
	switch t {
	case Float32, Int32:
		return 4
	case Float16, Int16:
		return 2
	case Uint8, Int8:
		return 1
	case Int64:
		return 8
	}
	return 0
}

func (t TensorType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case Int32:
		return "int32"
	case Uint8:
		return "uint8"
	case Int64:
		return "int64"
	case Int16:
		return "int16"
	case Int8:
		return "int8"
	}
	return fmt.Sprintf("type(%d)", int8(t))
}

// Opcode is a TFLite builtin operator code, numbered as in schema.fbs.
type Opcode int32

// Builtin operators edgenas reads, writes and runs (values from schema.fbs).
const (
	OpAdd             Opcode = 0
	OpAveragePool2D   Opcode = 1
	OpConv2D          Opcode = 3
	OpDepthwiseConv2D Opcode = 4
	OpDequantize      Opcode = 6
	OpFullyConnected  Opcode = 9
	OpLogistic        Opcode = 14
	OpMaxPool2D       Opcode = 17
	OpMul             Opcode = 18
	OpReshape         Opcode = 22
	OpSoftmax         Opcode = 25
	OpPad             Opcode = 34
	OpTranspose       Opcode = 39
	OpMean            Opcode = 40
	OpQuantize        Opcode = 114
	OpHardSwish       Opcode = 117
)

var opNames = map[Opcode]string{
	OpAdd:             "ADD",
	OpAveragePool2D:   "AVERAGE_POOL_2D",
	OpConv2D:          "CONV_2D",
	OpDepthwiseConv2D: "DEPTHWISE_CONV_2D",
	OpDequantize:      "DEQUANTIZE",
	OpFullyConnected:  "FULLY_CONNECTED",
	OpLogistic:        "LOGISTIC",
	OpMaxPool2D:       "MAX_POOL_2D",
	OpMul:             "MUL",
	OpReshape:         "RESHAPE",
	OpSoftmax:         "SOFTMAX",
	OpPad:             "PAD",
	OpTranspose:       "TRANSPOSE",
	OpMean:            "MEAN",
	OpQuantize:        "QUANTIZE",
	OpHardSwish:       "HARD_SWISH",
}

// String returns the schema name (CONV_2D) or BUILTIN_n for unknown codes.
func (o Opcode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("BUILTIN_%d", int32(o))
}

// Supported reports whether edgenas can read and write operator o.
func (o Opcode) Supported() bool { _, ok := opNames[o]; return ok }

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
	// operators without options (LOGISTIC, HARD_SWISH, QUANTIZE, DEQUANTIZE, PAD).
	Options any
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

// Model is one TFLite model with a single subgraph, decoded.
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
}

// Input returns the i-th graph input tensor.
func (m *Model) Input(i int) *Tensor { return &m.Tensors[m.Inputs[i]] }

// Output returns the i-th graph output tensor.
func (m *Model) Output(i int) *Tensor { return &m.Tensors[m.Outputs[i]] }
