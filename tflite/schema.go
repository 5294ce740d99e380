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
