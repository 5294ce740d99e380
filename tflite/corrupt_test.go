package tflite

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
)

// mustNotPanic runs Read and turns a panic into a test failure.
func mustNotPanic(t *testing.T, what string, data []byte) (m *Model, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: Read panicked: %v", what, r)
		}
	}()
	return Read(data)
}

func TestReadTruncated(t *testing.T) {
	data := realFile(t, "hello_world_int8.tflite")
	for n := 0; n < len(data); n++ {
		if _, err := mustNotPanic(t, "truncated", data[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes read without error", n, len(data))
		}
	}
}

func TestReadBitFlips(t *testing.T) {
	for _, name := range []string{"hello_world_int8.tflite", "person_detect.tflite"} {
		orig := realFile(t, name)
		// Flips in the small tables at the front (the data buffers at the
		// back only change weights), from a fixed seed.
		front := min(len(orig), 4096)
		rng := rand.New(rand.NewPCG(1, uint64(len(orig))))
		data := make([]byte, len(orig))
		for i := 0; i < 400000/min(len(orig), 1000); i++ {
			copy(data, orig)
			for k := 0; k < 1+i%3; k++ {
				pos := rng.IntN(front)
				data[pos] ^= 1 << rng.IntN(8)
			}
			m, err := mustNotPanic(t, name, data)
			if err != nil {
				continue
			}
			// A flip that still decodes must give a model that writes
			// and reads back, unless it made it one edgenas only inspects.
			if m.checkWritable() != nil {
				continue
			}
			out, err := Write(m)
			if err != nil {
				t.Fatalf("%s flip %d: read but does not write: %v", name, i, err)
			}
			if _, err := Read(out); err != nil {
				t.Fatalf("%s flip %d: written model does not read: %v", name, i, err)
			}
		}
	}
}

// TestReadHugeLengths patches every uint32 in a small file to large values:
// vector lengths claiming 2^31 elements must be errors, not allocations.
func TestReadHugeLengths(t *testing.T) {
	orig := realFile(t, "hello_world_int8.tflite")
	data := make([]byte, len(orig))
	for pos := 0; pos+4 <= len(orig); pos += 4 {
		for _, v := range []uint32{1 << 31, 1<<32 - 1, 1 << 20} {
			copy(data, orig)
			binary.LittleEndian.PutUint32(data[pos:], v)
			mustNotPanic(t, "huge", data)
		}
	}
	// The crafted one: a shape vector of 2^31-1 elements in a tiny file.
	_, err := Read(craftModel(craftOptions{hugeShape: true}))
	if err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("huge shape vector: %v", err)
	}
}

// TestReadSharedVectorBudget points thousands of tensors at one long shape
// vector: a small file whose decoded form would be huge is an error.
func TestReadSharedVectorBudget(t *testing.T) {
	b := flatbuffers.NewBuilder(1 << 16)
	shape := make([]int32, 1000)
	sh := int32Vector(b, shape)
	tensors := make([]flatbuffers.UOffsetT, 3000)
	for i := range tensors {
		b.StartObject(1)
		b.PrependUOffsetTSlot(0, sh, 0)
		tensors[i] = b.EndObject()
	}
	tv := tableVector(b, tensors)
	b.StartObject(1)
	b.PrependUOffsetTSlot(0, tv, 0)
	sgs := tableVector(b, []flatbuffers.UOffsetT{b.EndObject()})
	b.StartObject(3)
	b.PrependUint32Slot(0, SchemaVersion, 0)
	b.PrependUOffsetTSlot(2, sgs, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(FileIdentifier))
	data := b.FinishedBytes()
	_, err := Read(data)
	if err == nil || !strings.Contains(err.Error(), "more data than") {
		t.Fatalf("%d-byte file decoding to %d shape entries: err %v", len(data), 1000*len(tensors), err)
	}
}
