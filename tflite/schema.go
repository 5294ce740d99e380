package tflite

// Field ids (vtable slots) of the schema.fbs tables that Read decodes and
// Write encodes, so both sides name the same slot. Ids follow the field
// order of schema.fbs; a union takes two ids, its type then its value. The
// ...Slots constants are how many slots Write reserves for a table: one past
// the highest id it writes.

// Model.
const (
	modelVersion       = 0
	modelOperatorCodes = 1
	modelSubgraphs     = 2
	modelDescription   = 3
	modelBuffers       = 4
	modelSlots         = 5
)

// SubGraph.
const (
	subgraphTensors   = 0
	subgraphInputs    = 1
	subgraphOutputs   = 2
	subgraphOperators = 3
	subgraphName      = 4
	subgraphSlots     = 5
)

// OperatorCode.
const (
	opcodeDeprecatedBuiltin = 0 // int8, 127 once codes outgrew it
	opcodeCustom            = 1
	opcodeVersion           = 2
	opcodeBuiltin           = 3
	opcodeSlots             = 4
)

// Buffer.
const (
	bufferData = 0
	// bufferOffset and bufferSize locate data outside the flatbuffer (models
	// over 2 GB); Write never uses them.
	bufferOffset = 1
	bufferSize   = 2
	bufferSlots  = 1
)

// Tensor.
const (
	tensorShape        = 0
	tensorType         = 1
	tensorBuffer       = 2
	tensorName         = 3
	tensorQuantization = 4
	tensorIsVariable   = 5
	tensorSparsity     = 6
	tensorHasRank      = 8
	tensorSlots        = 9
)

// QuantizationParameters.
const (
	quantMin         = 0
	quantMax         = 1
	quantScale       = 2
	quantZeroPoint   = 3
	quantDetailsType = 4
	quantAxis        = 6 // quantized_dimension
	quantSlots       = 7
)

// Operator.
const (
	operatorOpcodeIndex  = 0
	operatorInputs       = 1
	operatorOutputs      = 2
	operatorOptionsType  = 3
	operatorOptions      = 4
	operatorOptions2Type = 11
	operatorSlots        = 5
)

// Builtin options tables (options.go). Conv2DOptions, DepthwiseConv2DOptions
// and Pool2DOptions share their first three fields.
const (
	optPadding = 0
	optStrideW = 1
	optStrideH = 2

	convActivation        = 3
	convDilationW         = 4
	convDilationH         = 5
	convQuantizedBiasType = 6
	convSlots             = 6

	dwDepthMultiplier = 3
	dwActivation      = 4
	dwDilationW       = 5
	dwDilationH       = 6
	dwSlots           = 7

	poolFilterWidth  = 3
	poolFilterHeight = 4
	poolActivation   = 5
	poolSlots        = 6

	fcActivation               = 0
	fcWeightsFormat            = 1
	fcKeepNumDims              = 2
	fcAsymmetricQuantizeInputs = 3
	fcQuantizedBiasType        = 4
	fcSlots                    = 3

	// Softmax's beta, Add's and Mul's fused activation, Reshape's new_shape
	// and Reducer's keep_dims are each their table's only field written.
	onlyField = 0
	onlySlots = 1
)
