package tflite

import (
	"fmt"
	"math"

	"edgenas/internal/safefile"
)

// FileIdentifier is the flatbuffer file identifier of TFLite models (bytes 4..8).
const FileIdentifier = "TFL3"

// SchemaVersion is the TFLite schema version edgenas reads and writes.
const SchemaVersion = 3

// opCustom is schema.fbs's CUSTOM builtin code.
const opCustom = 32

// placeholderForGreaterOpCodes is the deprecated_builtin_code value meaning
// "the code is in builtin_code" (schema.fbs PLACEHOLDER_FOR_GREATER_OP_CODES).
const placeholderForGreaterOpCodes = 127

// Read decodes a TFLite flatbuffer and validates it (see Validate). Every
// offset and length is checked against data, so a corrupt or hostile file
// gives an error, never a panic, and never makes Read allocate much more than
// len(data). Constant tensor data is copied: the model does not alias data.
//
// Every model the schema allows reads: operators edgenas does not model
// (custom ones included) keep their inputs and outputs with Options nil and
// Operator.Undecoded saying what was not decoded; variable and sparse
// tensors are marked; all subgraphs, signatures and metadata names are
// kept. Shape signatures and the bytes of metadata buffers are dropped.
func Read(data []byte) (*Model, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("tflite: file too short (%d bytes)", len(data))
	}
	if uint64(len(data)) > math.MaxInt32 {
		return nil, fmt.Errorf("tflite: file of %d bytes exceeds the 2 GB flatbuffer limit", len(data))
	}
	if id := string(data[4:8]); id != FileIdentifier {
		return nil, fmt.Errorf("tflite: file identifier %q, want %q", id, FileIdentifier)
	}
	d := newDecoder(data)
	m, err := d.model()
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	return m, nil
}

// MaxFileSize bounds the .tflite files ReadFile accepts: 1 GiB, the most an
// agent downloads (agent/proto.MaxArtifact) and far beyond any int8 model
// for a phone or board (the flatbuffer format itself stops at 2 GiB), so a
// wrong path cannot make a command read gigabytes.
const MaxFileSize = 1 << 30

// ReadFile reads and decodes the .tflite file at path. Only a regular file of
// at most MaxFileSize bytes is read: a FIFO or device is refused before it
// is opened for reading, so no command blocks on one.
func ReadFile(path string) (*Model, error) {
	data, err := safefile.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	m, err := Read(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// opcodeEntry is one decoded OperatorCode.
type opcodeEntry struct {
	op      Opcode
	version int32
	custom  string
}

func (d *decoder) model() (*Model, error) {
	root := d.root()
	if d.err != nil {
		return nil, fmt.Errorf("root table: %w", d.err)
	}
	m := &Model{Version: d.uint32Field(root, modelVersion, 0)}
	if m.Version != SchemaVersion {
		return nil, fmt.Errorf("schema version %d, want %d", m.Version, SchemaVersion)
	}
	m.Description = d.str(root, modelDescription)
	if d.err != nil {
		return nil, fmt.Errorf("description: %w", d.err)
	}

	codes, err := d.operatorCodes(root)
	if err != nil {
		return nil, err
	}
	buffers := d.tableVector(root, modelBuffers)
	if d.err != nil {
		return nil, fmt.Errorf("buffers: %w", d.err)
	}
	subgraphs := d.tableVector(root, modelSubgraphs)
	if d.err != nil {
		return nil, fmt.Errorf("subgraphs: %w", d.err)
	}
	if len(subgraphs) == 0 {
		return nil, fmt.Errorf("model has no subgraph")
	}
	for i, t := range subgraphs {
		sg, err := d.subgraph(t, buffers, codes)
		if err != nil {
			return nil, fmt.Errorf("subgraph %d: %w", i, err)
		}
		if i == 0 {
			m.Name, m.Tensors, m.Operators, m.Inputs, m.Outputs = sg.Name, sg.Tensors, sg.Operators, sg.Inputs, sg.Outputs
			continue
		}
		m.Subgraphs = append(m.Subgraphs, sg)
	}
	if err := d.signaturesAndMetadata(root, buffers, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *decoder) subgraph(sg table, buffers []table, codes []opcodeEntry) (Subgraph, error) {
	var out Subgraph
	out.Name = d.str(sg, subgraphName)
	out.Inputs = d.indices(sg, subgraphInputs)
	out.Outputs = d.indices(sg, subgraphOutputs)
	if d.err != nil {
		return out, d.err
	}
	tensors := d.tableVector(sg, subgraphTensors)
	if d.err != nil {
		return out, fmt.Errorf("tensors: %w", d.err)
	}
	out.Tensors = make([]Tensor, len(tensors))
	for i, t := range tensors {
		if err := d.tensor(t, buffers, &out.Tensors[i]); err != nil {
			return out, fmt.Errorf("tensor %d: %w", i, err)
		}
	}
	ops := d.tableVector(sg, subgraphOperators)
	if d.err != nil {
		return out, fmt.Errorf("operators: %w", d.err)
	}
	out.Operators = make([]Operator, len(ops))
	for i, t := range ops {
		if err := d.operator(t, codes, &out.Operators[i]); err != nil {
			return out, fmt.Errorf("operator %d: %w", i, err)
		}
	}
	return out, nil
}

// operatorCodes decodes the model's OperatorCode table. The code is the
// larger of deprecated_builtin_code and builtin_code, as TFLite reads it:
// older converters set only the byte, newer ones both (127 when the code
// does not fit in the byte).
func (d *decoder) operatorCodes(root table) ([]opcodeEntry, error) {
	ts := d.tableVector(root, modelOperatorCodes)
	if d.err != nil {
		return nil, fmt.Errorf("operator codes: %w", d.err)
	}
	codes := make([]opcodeEntry, len(ts))
	for i, t := range ts {
		dep := int32(d.int8Field(t, opcodeDeprecatedBuiltin, 0))
		custom := d.str(t, opcodeCustom)
		version := d.int32Field(t, opcodeVersion, 1)
		builtin := d.int32Field(t, opcodeBuiltin, 0)
		if d.err != nil {
			return nil, fmt.Errorf("operator code %d: %w", i, d.err)
		}
		code := max(dep, builtin)
		if code < 0 {
			return nil, fmt.Errorf("operator code %d: builtin code %d", i, code)
		}
		if code == opCustom && custom == "" {
			return nil, fmt.Errorf("operator code %d: custom operator without a custom code", i)
		}
		if code != opCustom {
			custom = "" // TFLite ignores the custom code of a builtin
		}
		codes[i] = opcodeEntry{op: Opcode(code), version: version, custom: custom}
	}
	return codes, nil
}

// indices decodes an [int] vector of tensor indices as ints.
func (d *decoder) indices(t table, id int) []int {
	v := d.int32s(t, id)
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func (d *decoder) tensor(t table, buffers []table, out *Tensor) error {
	out.Shape = d.int32s(t, tensorShape)
	out.Type = TensorType(d.int8Field(t, tensorType, 0))
	buf := d.uint32Field(t, tensorBuffer, 0)
	out.Name = d.str(t, tensorName)
	q := d.subTable(t, tensorQuantization)
	isVar := d.boolField(t, tensorIsVariable, false)
	_, sparse := d.indirect(t, tensorSparsity)
	if d.err != nil {
		return d.err
	}
	out.Variable, out.Sparse = isVar, sparse
	if q.ok {
		quant, err := d.quantization(q)
		if err != nil {
			return fmt.Errorf("%q: quantization: %w", out.Name, err)
		}
		out.Quant = quant
	}
	if uint64(buf) >= uint64(len(buffers)) {
		if buf == 0 && len(buffers) == 0 {
			return nil // no buffers at all: every tensor is an activation
		}
		return fmt.Errorf("%q: buffer index %d out of range (%d buffers)", out.Name, buf, len(buffers))
	}
	data, err := d.bufferData(buffers[buf])
	if err != nil {
		return fmt.Errorf("%q: buffer %d: %w", out.Name, buf, err)
	}
	out.Data = data
	return nil
}

// bufferData returns a copy of a Buffer's contents: the inline data vector,
// or the external offset/size region that large models use.
func (d *decoder) bufferData(b table) ([]byte, error) {
	off := d.uint64Field(b, bufferOffset, 0)
	size := d.uint64Field(b, bufferSize, 0)
	if d.err != nil {
		return nil, d.err
	}
	// schema.fbs: the external offset is valid only when > 1.
	if off > 1 {
		if !d.in(off, size) {
			return nil, fmt.Errorf("external data at %d (%d bytes) outside the %d-byte file", off, size, len(d.buf))
		}
		data := d.bytesAt(off, size)
		return data, d.err
	}
	v, ok := d.vector(b, bufferData, 1)
	if d.err != nil {
		return nil, d.err
	}
	if !ok {
		return nil, nil
	}
	data := d.bytesAt(v.start, v.n)
	return data, d.err
}

func (d *decoder) quantization(t table) (*Quantization, error) {
	q := &Quantization{
		Min:       d.float32s(t, quantMin),
		Max:       d.float32s(t, quantMax),
		Scale:     d.float32s(t, quantScale),
		ZeroPoint: d.int64s(t, quantZeroPoint),
		Axis:      d.int32Field(t, quantAxis, 0),
	}
	details := d.uint8Field(t, quantDetailsType, 0)
	if d.err != nil {
		return nil, d.err
	}
	q.Custom = details != 0
	if q.Scale == nil && q.ZeroPoint == nil && q.Min == nil && q.Max == nil && !q.Custom {
		return nil, nil // an empty table, as TOCO writes for unquantized tensors
	}
	return q, nil
}

func (d *decoder) operator(t table, codes []opcodeEntry, out *Operator) error {
	idx := d.uint32Field(t, operatorOpcodeIndex, 0)
	out.Inputs = d.indices(t, operatorInputs)
	out.Outputs = d.indices(t, operatorOutputs)
	typ := d.uint8Field(t, operatorOptionsType, 0)
	opts := d.subTable(t, operatorOptions)
	typ2 := d.uint8Field(t, operatorOptions2Type, 0)
	if d.err != nil {
		return d.err
	}
	if uint64(idx) >= uint64(len(codes)) {
		return fmt.Errorf("opcode index %d out of range (%d operator codes)", idx, len(codes))
	}
	c := codes[idx]
	out.Op, out.Version, out.CustomCode = c.op, c.version, c.custom
	return d.operatorOptions(t, c.op, typ, opts, typ2, out)
}
