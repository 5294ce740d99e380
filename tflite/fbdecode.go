package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decoder is a bounds-checked flatbuffer reader. The generated flatbuffers
// accessors trust every offset and panic on a corrupt file; this one checks
// each offset, length and table size against the buffer before use.
//
// Errors are sticky: the first failure is kept in err and every later access
// returns zero values, so decoding code can read a whole table and check err
// once, and never indexes out of range after a failure.
type decoder struct {
	buf []byte
	err error
	// budget is how many more bytes the decoder may allocate. A flatbuffer
	// can point many offsets at the same vector, so without a budget a small
	// file could make the reader allocate far more than its own size.
	budget int64
}

// table is one decoded table header: where it starts, its vtable and sizes.
type table struct {
	pos   uint64 // table start (its soffset to the vtable)
	vt    uint64 // vtable start
	vtLen uint64 // vtable size in bytes
	tLen  uint64 // inline table size in bytes
	ok    bool   // false for an absent or invalid table
}

// vec locates one vector: its first element and element count.
type vec struct {
	start uint64
	n     uint64
}

func newDecoder(buf []byte) *decoder {
	// Decoded structures (shapes, names, copied constants) are a bounded
	// multiple of what the file holds; the slack covers tiny files.
	return &decoder{buf: buf, budget: 4*int64(len(buf)) + 1<<16}
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// charge reserves n bytes of the allocation budget.
func (d *decoder) charge(n uint64) bool {
	if d.err != nil {
		return false
	}
	if n > uint64(d.budget) {
		d.fail("file claims more data than its %d bytes can hold", len(d.buf))
		return false
	}
	d.budget -= int64(n)
	return true
}

// in reports whether [at, at+n) lies inside the buffer.
func (d *decoder) in(at, n uint64) bool {
	size := uint64(len(d.buf))
	return at <= size && n <= size-at
}

func (d *decoder) u16(at uint64) uint64 {
	if d.err != nil || !d.in(at, 2) {
		d.fail("offset %d out of range", at)
		return 0
	}
	return uint64(binary.LittleEndian.Uint16(d.buf[at:]))
}

func (d *decoder) u32(at uint64) uint64 {
	if d.err != nil || !d.in(at, 4) {
		d.fail("offset %d out of range", at)
		return 0
	}
	return uint64(binary.LittleEndian.Uint32(d.buf[at:]))
}

// root returns the root table of the buffer.
func (d *decoder) root() table {
	return d.tableAt(d.u32(0))
}

// tableAt decodes the table header at pos.
func (d *decoder) tableAt(pos uint64) table {
	if d.err != nil {
		return table{}
	}
	if !d.in(pos, 4) {
		d.fail("table at %d out of range", pos)
		return table{}
	}
	soff := int64(int32(binary.LittleEndian.Uint32(d.buf[pos:])))
	vt := int64(pos) - soff
	if vt < 0 || !d.in(uint64(vt), 4) {
		d.fail("table at %d: vtable offset %d out of range", pos, vt)
		return table{}
	}
	vtLen := uint64(binary.LittleEndian.Uint16(d.buf[vt:]))
	tLen := uint64(binary.LittleEndian.Uint16(d.buf[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || !d.in(uint64(vt), vtLen) {
		d.fail("table at %d: bad vtable size %d", pos, vtLen)
		return table{}
	}
	if tLen < 4 || !d.in(pos, tLen) {
		d.fail("table at %d: bad table size %d", pos, tLen)
		return table{}
	}
	return table{pos: pos, vt: uint64(vt), vtLen: vtLen, tLen: tLen, ok: true}
}

// field returns the absolute position of field id holding size bytes, or
// false when the field is absent (then the schema default applies).
func (d *decoder) field(t table, id int, size uint64) (uint64, bool) {
	if d.err != nil || !t.ok {
		return 0, false
	}
	slot := uint64(4 + 2*id)
	if slot+2 > t.vtLen {
		return 0, false
	}
	off := uint64(binary.LittleEndian.Uint16(d.buf[t.vt+slot:]))
	if off == 0 {
		return 0, false
	}
	if off < 4 || off+size > t.tLen {
		d.fail("table at %d: field %d at offset %d outside the table (%d bytes)", t.pos, id, off, t.tLen)
		return 0, false
	}
	return t.pos + off, true
}

func (d *decoder) uint8Field(t table, id int, def uint8) uint8 {
	if at, ok := d.field(t, id, 1); ok {
		return d.buf[at]
	}
	return def
}

func (d *decoder) int8Field(t table, id int, def int8) int8 {
	return int8(d.uint8Field(t, id, uint8(def)))
}

func (d *decoder) boolField(t table, id int, def bool) bool {
	if at, ok := d.field(t, id, 1); ok {
		return d.buf[at] != 0
	}
	return def
}

func (d *decoder) uint32Field(t table, id int, def uint32) uint32 {
	if at, ok := d.field(t, id, 4); ok {
		return binary.LittleEndian.Uint32(d.buf[at:])
	}
	return def
}

func (d *decoder) int32Field(t table, id int, def int32) int32 {
	return int32(d.uint32Field(t, id, uint32(def)))
}

func (d *decoder) float32Field(t table, id int, def float32) float32 {
	return math.Float32frombits(d.uint32Field(t, id, math.Float32bits(def)))
}

func (d *decoder) uint64Field(t table, id int, def uint64) uint64 {
	if at, ok := d.field(t, id, 8); ok {
		return binary.LittleEndian.Uint64(d.buf[at:])
	}
	return def
}

// indirect follows the uoffset stored in field id.
func (d *decoder) indirect(t table, id int) (uint64, bool) {
	at, ok := d.field(t, id, 4)
	if !ok {
		return 0, false
	}
	target := at + uint64(binary.LittleEndian.Uint32(d.buf[at:]))
	if !d.in(target, 4) {
		d.fail("table at %d: field %d points outside the file (%d)", t.pos, id, target)
		return 0, false
	}
	return target, true
}

// subTable returns the table referenced by field id (ok false when absent).
func (d *decoder) subTable(t table, id int) table {
	pos, ok := d.indirect(t, id)
	if !ok {
		return table{}
	}
	return d.tableAt(pos)
}

// vector locates the vector in field id whose elements are elemSize bytes,
// checking that all of it lies inside the file.
func (d *decoder) vector(t table, id int, elemSize uint64) (vec, bool) {
	pos, ok := d.indirect(t, id)
	if !ok {
		return vec{}, false
	}
	n := d.u32(pos)
	start := pos + 4
	if d.err != nil || n > (uint64(len(d.buf))-start)/elemSize {
		d.fail("table at %d: field %d: vector of %d elements runs past the end of the file", t.pos, id, n)
		return vec{}, false
	}
	return vec{start: start, n: n}, true
}

// tableVector returns the tables of a vector-of-tables field; the returned
// slice is small (headers only), charged to the budget like any other.
func (d *decoder) tableVector(t table, id int) []table {
	v, ok := d.vector(t, id, 4)
	if !ok || v.n == 0 || !d.charge(v.n*48) {
		return nil
	}
	out := make([]table, v.n)
	for i := range out {
		at := v.start + 4*uint64(i)
		out[i] = d.tableAt(at + uint64(binary.LittleEndian.Uint32(d.buf[at:])))
		if d.err != nil {
			d.err = fmt.Errorf("element %d: %w", i, d.err)
			return nil
		}
	}
	return out
}

func (d *decoder) int32s(t table, id int) []int32 {
	v, ok := d.vector(t, id, 4)
	if !ok || v.n == 0 || !d.charge(4*v.n) {
		return nil
	}
	out := make([]int32, v.n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(d.buf[v.start+4*uint64(i):]))
	}
	return out
}

func (d *decoder) float32s(t table, id int) []float32 {
	v, ok := d.vector(t, id, 4)
	if !ok || v.n == 0 || !d.charge(4*v.n) {
		return nil
	}
	out := make([]float32, v.n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.buf[v.start+4*uint64(i):]))
	}
	return out
}

func (d *decoder) int64s(t table, id int) []int64 {
	v, ok := d.vector(t, id, 8)
	if !ok || v.n == 0 || !d.charge(8*v.n) {
		return nil
	}
	out := make([]int64, v.n)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(d.buf[v.start+8*uint64(i):]))
	}
	return out
}

func (d *decoder) str(t table, id int) string {
	v, ok := d.vector(t, id, 1)
	if !ok || v.n == 0 || !d.charge(v.n) {
		return ""
	}
	return string(d.buf[v.start : v.start+v.n])
}

// bytesAt copies n bytes at pos, charged to the budget. Copying (rather than
// aliasing the input) lets callers modify constants freely and gives the data
// Go's allocation alignment.
func (d *decoder) bytesAt(pos, n uint64) []byte {
	if n == 0 || !d.charge(n) {
		return nil
	}
	if !d.in(pos, n) {
		d.fail("data at %d (%d bytes) outside the file", pos, n)
		return nil
	}
	out := make([]byte, n)
	copy(out, d.buf[pos:pos+n])
	return out
}
