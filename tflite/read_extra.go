package tflite

import (
	"errors"
	"fmt"
)

// Field numbers (schema.fbs declaration order) of the tables read here.
const (
	fieldModelMetadata      = 6
	fieldModelSignatureDefs = 7
	fieldMetadataName       = 0
	fieldMetadataBuffer     = 1
	fieldSignatureInputs    = 0
	fieldSignatureOutputs   = 1
	fieldSignatureKey       = 2
	fieldSignatureSubgraph  = 4
	fieldTensorMapName      = 0
	fieldTensorMapIndex     = 1
	fieldOperatorCustomOpts = 5
)

// operatorOptions decodes an operator's options into out. Operators edgenas
// models get their typed options; for every other operator, and for option
// values no edgenas kernel implements, out.Undecoded says what was left.
// typ and opts are builtin_options' type and table, typ2 builtin_options_2's
// type.
func (d *decoder) operatorOptions(t table, op Opcode, typ uint8, opts table, typ2 uint8, out *Operator) error {
	if op == OpCustom {
		v, _ := d.vector(t, fieldOperatorCustomOpts, 1)
		if d.err != nil {
			return d.err
		}
		out.Undecoded = fmt.Sprintf("custom operator %q (%d bytes of custom options)", out.CustomCode, v.n)
		return nil
	}
	if !op.Supported() {
		out.Undecoded = fmt.Sprintf("%v is not modelled by edgenas", op)
		if typ != optNone {
			out.Undecoded += fmt.Sprintf(" (builtin options of union type %d)", typ)
		}
		if typ2 != optNone {
			out.Undecoded += fmt.Sprintf(" (builtin_options_2 of union type %d)", typ2)
		}
		return nil
	}
	if typ2 != optNone {
		out.Undecoded = fmt.Sprintf("builtin_options_2 (type %d)", typ2)
		return nil
	}
	o, err := d.decodeOptions(op, typ, opts)
	var um *unmodelledError
	if errors.As(err, &um) {
		out.Undecoded = um.Error()
		return nil
	}
	if err != nil {
		return err
	}
	out.Options = o
	return nil
}

// signaturesAndMetadata decodes the model's signature defs and metadata
// names into m.
func (d *decoder) signaturesAndMetadata(root table, buffers []table, m *Model) error {
	for i, t := range d.tableVector(root, fieldModelMetadata) {
		md := Metadata{Name: d.str(t, fieldMetadataName)}
		buf := d.uint32Field(t, fieldMetadataBuffer, 0)
		if d.err != nil {
			return fmt.Errorf("metadata %d: %w", i, d.err)
		}
		if uint64(buf) >= uint64(len(buffers)) {
			return fmt.Errorf("metadata %d (%q): buffer index %d out of range (%d buffers)", i, md.Name, buf, len(buffers))
		}
		n, err := d.bufferSize(buffers[buf])
		if err != nil {
			return fmt.Errorf("metadata %d (%q): %w", i, md.Name, err)
		}
		md.Bytes = n
		m.Metadata = append(m.Metadata, md)
	}
	if d.err != nil {
		return fmt.Errorf("metadata: %w", d.err)
	}
	for i, t := range d.tableVector(root, fieldModelSignatureDefs) {
		sig := Signature{
			Key:      d.str(t, fieldSignatureKey),
			Subgraph: int(d.uint32Field(t, fieldSignatureSubgraph, 0)),
			Inputs:   d.tensorMaps(t, fieldSignatureInputs),
			Outputs:  d.tensorMaps(t, fieldSignatureOutputs),
		}
		if d.err != nil {
			return fmt.Errorf("signature %d: %w", i, d.err)
		}
		m.Signatures = append(m.Signatures, sig)
	}
	if d.err != nil {
		return fmt.Errorf("signatures: %w", d.err)
	}
	return nil
}

func (d *decoder) tensorMaps(t table, id int) []SignatureTensor {
	ts := d.tableVector(t, id)
	out := make([]SignatureTensor, 0, len(ts))
	for _, e := range ts {
		out = append(out, SignatureTensor{Name: d.str(e, fieldTensorMapName), Tensor: int(d.uint32Field(e, fieldTensorMapIndex, 0))})
	}
	return out
}

// bufferSize is the size of a Buffer's contents without copying them.
func (d *decoder) bufferSize(b table) (int, error) {
	off := d.uint64Field(b, 1, 0)
	size := d.uint64Field(b, 2, 0)
	if d.err != nil {
		return 0, d.err
	}
	if off > 1 {
		if !d.in(off, size) {
			return 0, fmt.Errorf("external data at %d (%d bytes) outside the %d-byte file", off, size, len(d.buf))
		}
		return int(size), nil
	}
	v, _ := d.vector(b, 0, 1)
	return int(v.n), d.err
}
