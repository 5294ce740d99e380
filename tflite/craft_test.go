package tflite

import (
	flatbuffers "github.com/google/flatbuffers/go"
)

// craftOptions selects the oddities craftModel writes into an otherwise
// valid one-FULLY_CONNECTED model. The zero value is the valid model.
type craftOptions struct {
	dep, builtin       int32 // operator code fields (dep defaults to 9)
	setDep, setBuiltin bool
	subgraphs          int // 0 means 1; -1 means none
	version            uint32
	hugeShape          bool   // tensor 0's shape claims 2^31-1 elements
	extOffset, extSize uint64 // weights use Buffer.offset/size
	bufferIndex        uint32 // weights' buffer index (0 means 1)
	variable           bool   // tensor 0 is_variable
	opcodeIndex        uint32
	optionsType        uint8 // builtin_options_type (0 means FullyConnectedOptions)
}

// craftFC writes the valid model with the given operator code fields.
func craftFC(dep, builtin int32, setDep, setBuiltin bool) []byte {
	return craftModel(craftOptions{dep: dep, builtin: builtin, setDep: setDep, setBuiltin: setBuiltin})
}

// craftModel writes a model field by field with the flatbuffers builder, so
// tests can produce files that Write (which validates) never would.
func craftModel(o craftOptions) []byte {
	if !o.setDep && !o.setBuiltin {
		o.dep, o.setDep = 9, true
	}
	if o.version == 0 {
		o.version = SchemaVersion
	}
	if o.bufferIndex == 0 {
		o.bufferIndex = 1
	}
	if o.optionsType == 0 {
		o.optionsType = optFullyConnected
	}
	b := flatbuffers.NewBuilder(1024)

	empty := emptyTable(b)
	var wbuf flatbuffers.UOffsetT
	if o.extOffset != 0 {
		b.StartObject(3)
		b.PrependUint64Slot(1, o.extOffset, 0)
		b.PrependUint64Slot(2, o.extSize, 0)
		wbuf = b.EndObject()
	} else {
		data := b.CreateByteVector([]byte{1, 2, 3, 4})
		b.StartObject(1)
		b.PrependUOffsetTSlot(0, data, 0)
		wbuf = b.EndObject()
	}
	buffers := tableVector(b, []flatbuffers.UOffsetT{empty, wbuf})

	tensor := func(name string, shape []int32, buffer uint32, variable, huge bool) flatbuffers.UOffsetT {
		b.StartVector(4, len(shape), 4)
		for i := len(shape) - 1; i >= 0; i-- {
			b.PrependInt32(shape[i])
		}
		n := len(shape)
		if huge {
			n = 1<<31 - 1
		}
		sh := b.EndVector(n)
		nm := b.CreateString(name)
		scale := float32Vector(b, []float32{0.5})
		zp := int64Vector(b, []int64{0})
		b.StartObject(7)
		b.PrependUOffsetTSlot(2, scale, 0)
		b.PrependUOffsetTSlot(3, zp, 0)
		q := b.EndObject()
		b.StartObject(6)
		b.PrependUOffsetTSlot(0, sh, 0)
		b.PrependInt8Slot(1, int8(Int8), 0)
		b.PrependUint32Slot(2, buffer, 0)
		b.PrependUOffsetTSlot(3, nm, 0)
		b.PrependUOffsetTSlot(4, q, 0)
		b.PrependBoolSlot(5, variable, false)
		return b.EndObject()
	}
	t0 := tensor("in", []int32{1, 4}, 0, o.variable, o.hugeShape)
	t1 := tensor("w", []int32{1, 4}, o.bufferIndex, false, false)
	t2 := tensor("out", []int32{1, 1}, 0, false, false)
	tensors := tableVector(b, []flatbuffers.UOffsetT{t0, t1, t2})

	b.StartObject(1)
	fcOpts := b.EndObject()
	ins := indexVector(b, []int{0, 1, -1})
	outs := indexVector(b, []int{2})
	b.StartObject(5)
	b.PrependUint32Slot(0, o.opcodeIndex, 0)
	b.PrependUOffsetTSlot(1, ins, 0)
	b.PrependUOffsetTSlot(2, outs, 0)
	b.PrependUint8Slot(3, o.optionsType, 0)
	b.PrependUOffsetTSlot(4, fcOpts, 0)
	op := b.EndObject()
	ops := tableVector(b, []flatbuffers.UOffsetT{op})
	gin := indexVector(b, []int{0})
	gout := indexVector(b, []int{2})

	n := 1
	if o.subgraphs != 0 {
		n = max(o.subgraphs, 0)
	}
	sgs := make([]flatbuffers.UOffsetT, n)
	for i := range sgs {
		b.StartObject(5)
		b.PrependUOffsetTSlot(0, tensors, 0)
		b.PrependUOffsetTSlot(1, gin, 0)
		b.PrependUOffsetTSlot(2, gout, 0)
		b.PrependUOffsetTSlot(3, ops, 0)
		sgs[i] = b.EndObject()
	}
	subgraphs := tableVector(b, sgs)

	custom := flatbuffers.UOffsetT(0)
	if o.dep == opCustom || o.builtin == opCustom {
		custom = b.CreateString("MyOp")
	}
	b.StartObject(4)
	if o.setDep {
		b.PrependInt8Slot(0, int8(o.dep), 0)
	}
	if o.setBuiltin {
		b.PrependInt32Slot(3, o.builtin, 0)
	}
	b.PrependUOffsetTSlot(1, custom, 0)
	code := b.EndObject()
	codes := tableVector(b, []flatbuffers.UOffsetT{code})

	b.StartObject(5)
	b.PrependUint32Slot(0, o.version, 0)
	b.PrependUOffsetTSlot(1, codes, 0)
	b.PrependUOffsetTSlot(2, subgraphs, 0)
	b.PrependUOffsetTSlot(4, buffers, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(FileIdentifier))
	return b.FinishedBytes()
}
