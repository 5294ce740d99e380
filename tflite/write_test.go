package tflite

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
)

func TestRoundTripSynthetic(t *testing.T) {
	m := testModel()
	data, err := Write(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		for i := range m.Tensors {
			if !reflect.DeepEqual(got.Tensors[i], m.Tensors[i]) {
				t.Errorf("tensor %d: got %+v\nwant %+v", i, got.Tensors[i], m.Tensors[i])
			}
		}
		for i := range m.Operators {
			if !reflect.DeepEqual(got.Operators[i], m.Operators[i]) {
				t.Errorf("operator %d: got %+v\nwant %+v", i, got.Operators[i], m.Operators[i])
			}
		}
		t.Fatalf("round trip differs")
	}
	again, err := Write(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Error("Write(Read(Write(m))) differs from Write(m)")
	}
}

func TestRoundTripReal(t *testing.T) {
	for _, name := range realModels {
		t.Run(name, func(t *testing.T) {
			m, err := Read(realFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			w1, err := Write(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Read(w1)
			if err != nil {
				t.Fatal(err)
			}
			m.Signatures, m.Metadata = nil, nil // Write drops them
			if !reflect.DeepEqual(m, m2) {
				t.Error("Read(Write(Read(file))) differs from Read(file)")
			}
			w2, err := Write(m2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w1, w2) {
				t.Error("Write is not stable across a round trip")
			}
			checkLayout(t, w1, m)
		})
	}
}

// checkLayout decodes a written file with the flatbuffers library's own
// (unchecked) table accessors, an independent reader, and checks the layout
// rules TFLite's verifier and mmap loading rely on: identifier, version,
// both opcode fields, the empty sentinel buffer, 16-byte aligned data.
func checkLayout(t *testing.T, data []byte, m *Model) {
	t.Helper()
	if string(data[4:8]) != FileIdentifier {
		t.Fatalf("identifier %q", data[4:8])
	}
	if len(data)%bufferAlign != 0 {
		t.Errorf("file size %d not a multiple of %d", len(data), bufferAlign)
	}
	root := &flatbuffers.Table{Bytes: data, Pos: flatbuffers.GetUOffsetT(data)}
	field := func(tb *flatbuffers.Table, id int) flatbuffers.UOffsetT {
		return flatbuffers.UOffsetT(tb.Offset(flatbuffers.VOffsetT(4 + 2*id)))
	}
	if o := field(root, 0); o == 0 || root.GetUint32(o+root.Pos) != SchemaVersion {
		t.Errorf("schema version field missing or wrong")
	}
	elem := func(tb *flatbuffers.Table, id, i int) *flatbuffers.Table {
		v := tb.Vector(field(tb, id))
		at := v + flatbuffers.UOffsetT(4*i)
		return &flatbuffers.Table{Bytes: data, Pos: tb.Indirect(at)}
	}
	codes := root.VectorLen(field(root, 1))
	for i := 0; i < codes; i++ {
		c := elem(root, 1, i)
		var dep int8
		if o := field(c, 0); o != 0 {
			dep = c.GetInt8(o + c.Pos)
		}
		var code int32
		if o := field(c, 3); o != 0 {
			code = c.GetInt32(o + c.Pos)
		}
		if int32(dep) != min(code, 127) {
			t.Errorf("opcode %d: deprecated %d, builtin %d", i, dep, code)
		}
	}
	nbuf := root.VectorLen(field(root, 4))
	if nbuf == 0 || field(elem(root, 4, 0), 0) != 0 {
		t.Fatalf("buffer 0 is not the empty sentinel")
	}
	consts := 0
	for i := range m.Tensors {
		if len(m.Tensors[i].Data) > 0 {
			consts++
		}
	}
	if nbuf != consts+1 {
		t.Errorf("%d buffers for %d constant tensors", nbuf, consts)
	}
	for i := 1; i < nbuf; i++ {
		bt := elem(root, 4, i)
		start := bt.Vector(field(bt, 0))
		if start%bufferAlign != 0 {
			t.Errorf("buffer %d data at %d, not %d-byte aligned", i, start, bufferAlign)
		}
		if n := binary.LittleEndian.Uint32(data[start-4:]); n == 0 {
			t.Errorf("buffer %d empty", i)
		}
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	m := testModel()
	m.Operators[3].Inputs[1] = 999
	if _, err := Write(m); err == nil {
		t.Fatal("Write accepted an out-of-range tensor index")
	}
}

func TestWriteVersionDefaults(t *testing.T) {
	// A graph builder may leave the schema and operator versions zero.
	m := testModel()
	m.Version = 0
	for i := range m.Operators {
		m.Operators[i].Version = 0
	}
	data, err := Write(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != SchemaVersion || got.Operators[0].Version != 1 {
		t.Errorf("versions %d / %d, want %d / 1", got.Version, got.Operators[0].Version, SchemaVersion)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.tflite")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := testModel()
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Error("WriteFile/ReadFile round trip differs")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the model (temp file left?)", len(entries))
	}
	// An invalid model leaves the existing file untouched.
	bad := testModel()
	bad.Outputs = []int{-5}
	if err := WriteFile(path, bad); err == nil {
		t.Fatal("WriteFile accepted an invalid model")
	}
	if _, err := ReadFile(path); err != nil {
		t.Errorf("existing file damaged: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "m.tflite"), m); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}
