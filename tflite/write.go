package tflite

import (
	"fmt"
	"os"
	"path/filepath"

	flatbuffers "github.com/google/flatbuffers/go"
)

// bufferAlign is the alignment of constant data in written files
// (schema.fbs: Buffer.data is force_align 16), so runtimes can map weights
// without copying.
const bufferAlign = 16

// Write validates m and encodes it as a TFLite flatbuffer (schema version 3,
// identifier "TFL3"). Buffer 0 is the empty sentinel and each tensor with
// constant data gets its own 16-byte aligned buffer; operator codes are
// listed in order of first use with both code fields set. The output is a
// function of m alone: Write(Read(Write(m))) equals Write(m) byte for byte.
func Write(m *Model) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("tflite: write: %w", err)
	}
	if err := m.checkWritable(); err != nil {
		return nil, fmt.Errorf("tflite: write: %w", err)
	}
	// Sized so the builder (which doubles and copies when full) rarely grows.
	est := 1<<12 + 256*len(m.Operators) + 128*len(m.Tensors)
	for i := range m.Tensors {
		t := &m.Tensors[i]
		est += len(t.Data) + 2*bufferAlign + len(t.Name) + 4*len(t.Shape)
		if t.Quant != nil {
			est += 12*len(t.Quant.Scale) + 4*len(t.Quant.Min) + 4*len(t.Quant.Max)
		}
	}
	b := flatbuffers.NewBuilder(est)

	// Buffers first: the builder fills the file back to front, so the bulky
	// constant data ends up after the small tables, as converters lay it out.
	bufIndex := make([]uint32, len(m.Tensors))
	bufOffs := []flatbuffers.UOffsetT{emptyTable(b)}
	for i := range m.Tensors {
		data := m.Tensors[i].Data
		if len(data) == 0 {
			continue // an activation (or an empty constant) uses the sentinel
		}
		b.Prep(bufferAlign, len(data))
		vec := b.CreateByteVector(data)
		b.StartObject(bufferSlots)
		b.PrependUOffsetTSlot(bufferData, vec, 0)
		bufIndex[i] = uint32(len(bufOffs))
		bufOffs = append(bufOffs, b.EndObject())
	}
	buffers := tableVector(b, bufOffs)

	subgraph, codeList, err := writeSubgraph(b, m, bufIndex)
	if err != nil {
		return nil, err
	}
	subgraphs := tableVector(b, []flatbuffers.UOffsetT{subgraph})
	codes := writeOperatorCodes(b, codeList)
	desc := b.CreateString(m.Description)

	b.StartObject(modelSlots)
	b.PrependUint32Slot(modelVersion, SchemaVersion, 0)
	b.PrependUOffsetTSlot(modelOperatorCodes, codes, 0)
	b.PrependUOffsetTSlot(modelSubgraphs, subgraphs, 0)
	b.PrependUOffsetTSlot(modelDescription, desc, 0)
	b.PrependUOffsetTSlot(modelBuffers, buffers, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(FileIdentifier))
	return b.FinishedBytes(), nil
}

// codeKey is one OperatorCode entry: an opcode at a version.
type codeKey struct {
	op      Opcode
	version int32
}

// writeSubgraph writes the model's one subgraph (tensors, operators, inputs,
// outputs, name) and returns it with the operator codes its operators
// index, one per (opcode, version) in order of first use.
func writeSubgraph(b *flatbuffers.Builder, m *Model, bufIndex []uint32) (flatbuffers.UOffsetT, []codeKey, error) {
	tensorOffs := make([]flatbuffers.UOffsetT, len(m.Tensors))
	for i := range m.Tensors {
		tensorOffs[i] = writeTensor(b, &m.Tensors[i], bufIndex[i])
	}
	tensors := tableVector(b, tensorOffs)

	codeIndex := map[codeKey]uint32{}
	var codeList []codeKey
	opOffs := make([]flatbuffers.UOffsetT, len(m.Operators))
	for i := range m.Operators {
		op := &m.Operators[i]
		k := codeKey{op.Op, op.Version}
		if k.version < 1 {
			k.version = 1 // schema default; version 0 does not exist
		}
		idx, ok := codeIndex[k]
		if !ok {
			idx = uint32(len(codeList))
			codeIndex[k] = idx
			codeList = append(codeList, k)
		}
		off, err := writeOperator(b, op, idx)
		if err != nil {
			return 0, nil, fmt.Errorf("tflite: write: operator %d: %w", i, err)
		}
		opOffs[i] = off
	}
	operators := tableVector(b, opOffs)
	inputs := indexVector(b, m.Inputs)
	outputs := indexVector(b, m.Outputs)
	name := b.CreateString(m.Name)
	b.StartObject(subgraphSlots)
	b.PrependUOffsetTSlot(subgraphTensors, tensors, 0)
	b.PrependUOffsetTSlot(subgraphInputs, inputs, 0)
	b.PrependUOffsetTSlot(subgraphOutputs, outputs, 0)
	b.PrependUOffsetTSlot(subgraphOperators, operators, 0)
	b.PrependUOffsetTSlot(subgraphName, name, 0)
	return b.EndObject(), codeList, nil
}

// writeOperatorCodes writes the OperatorCode vector with both code fields
// set, as current converters do.
func writeOperatorCodes(b *flatbuffers.Builder, codeList []codeKey) flatbuffers.UOffsetT {
	codeOffs := make([]flatbuffers.UOffsetT, len(codeList))
	for i, k := range codeList {
		b.StartObject(opcodeSlots)
		b.PrependInt32Slot(opcodeBuiltin, int32(k.op), 0)
		b.PrependInt32Slot(opcodeVersion, k.version, 1)
		b.PrependInt8Slot(opcodeDeprecatedBuiltin, int8(min(int32(k.op), placeholderForGreaterOpCodes)), 0)
		codeOffs[i] = b.EndObject()
	}
	return tableVector(b, codeOffs)
}

func emptyTable(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	b.StartObject(0)
	return b.EndObject()
}

func tableVector(b *flatbuffers.Builder, offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(offs), 4)
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	return b.EndVector(len(offs))
}

func indexVector(b *flatbuffers.Builder, idx []int) flatbuffers.UOffsetT {
	b.StartVector(4, len(idx), 4)
	for i := len(idx) - 1; i >= 0; i-- {
		b.PrependInt32(int32(idx[i]))
	}
	return b.EndVector(len(idx))
}

func float32Vector(b *flatbuffers.Builder, v []float32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependFloat32(v[i])
	}
	return b.EndVector(len(v))
}

func int64Vector(b *flatbuffers.Builder, v []int64) flatbuffers.UOffsetT {
	b.StartVector(8, len(v), 8)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt64(v[i])
	}
	return b.EndVector(len(v))
}

func writeTensor(b *flatbuffers.Builder, t *Tensor, buffer uint32) flatbuffers.UOffsetT {
	var quant flatbuffers.UOffsetT
	// A Quantization with no parameters is written as none, as Read returns it.
	if q := t.Quant; q != nil && len(q.Scale)+len(q.ZeroPoint)+len(q.Min)+len(q.Max) > 0 {
		var vmin, vmax, scale, zp flatbuffers.UOffsetT
		if len(q.Min) > 0 {
			vmin = float32Vector(b, q.Min)
		}
		if len(q.Max) > 0 {
			vmax = float32Vector(b, q.Max)
		}
		if len(q.Scale) > 0 {
			scale = float32Vector(b, q.Scale)
		}
		if len(q.ZeroPoint) > 0 {
			zp = int64Vector(b, q.ZeroPoint)
		}
		b.StartObject(quantSlots)
		b.PrependUOffsetTSlot(quantMin, vmin, 0)
		b.PrependUOffsetTSlot(quantMax, vmax, 0)
		b.PrependUOffsetTSlot(quantScale, scale, 0)
		b.PrependUOffsetTSlot(quantZeroPoint, zp, 0)
		b.PrependInt32Slot(quantAxis, q.Axis, 0)
		quant = b.EndObject()
	}
	shape := int32Vector(b, t.Shape)
	name := b.CreateString(t.Name)
	b.StartObject(tensorSlots)
	b.PrependUOffsetTSlot(tensorShape, shape, 0)
	b.PrependUint32Slot(tensorBuffer, buffer, 0)
	b.PrependUOffsetTSlot(tensorName, name, 0)
	b.PrependUOffsetTSlot(tensorQuantization, quant, 0)
	b.PrependInt8Slot(tensorType, int8(t.Type), 0)
	// Every edgenas tensor has a known rank; has_rank tells TFLite that an
	// empty shape is a scalar, not an unknown rank.
	b.PrependBoolSlot(tensorHasRank, true, false)
	return b.EndObject()
}

func writeOperator(b *flatbuffers.Builder, op *Operator, codeIndex uint32) (flatbuffers.UOffsetT, error) {
	typ, opts, err := encodeOptions(b, op.Op, op.Options)
	if err != nil {
		return 0, err
	}
	inputs := indexVector(b, op.Inputs)
	outputs := indexVector(b, op.Outputs)
	b.StartObject(operatorSlots)
	b.PrependUint32Slot(operatorOpcodeIndex, codeIndex, 0)
	b.PrependUOffsetTSlot(operatorInputs, inputs, 0)
	b.PrependUOffsetTSlot(operatorOutputs, outputs, 0)
	b.PrependUOffsetTSlot(operatorOptions, opts, 0)
	b.PrependUint8Slot(operatorOptionsType, typ, 0)
	return b.EndObject(), nil
}

// WriteFile writes m to path atomically: the bytes go to a temporary file in
// the same directory, which is synced and renamed over path, then the
// directory is synced, so a crash leaves either the old file or the new one.
func WriteFile(path string, m *Model) error {
	data, err := Write(m)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tflite: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("tflite: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tflite: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a model is an ordinary shareable file.
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tflite: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tflite: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tflite: sync dir of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tflite: sync dir of %s: %w", path, err)
	}
	return nil
}
