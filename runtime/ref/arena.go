package ref

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	"edgenas/tflite"
)

// MaxArenaBytes bounds the one allocation that holds every tensor of a
// loaded model: 1 GiB, over ten times the activations and weights of the
// largest int8 models edgenas runs (MobileNetV2 at 224x224 needs about
// 30 MB). A model declaring more is refused at Load with an error, before
// anything is allocated, instead of the process dying in the allocator.
const MaxArenaBytes = 1 << 30

// arenaAlign aligns every tensor in the arena (so float32 views are valid).
const arenaAlign = 16

// arenaSlack is address space kept free beyond the arena when the process
// has an address-space limit: the Go heap grows in 64 MiB arenas.
const arenaSlack = 64 << 20

// arenaLayout returns each tensor's offset in the arena and the arena's
// size, computed in int64 with every product and sum checked, so no shape a
// file can declare overflows or reaches the allocator unchecked. The size
// must fit MaxArenaBytes and, under an address-space limit (ulimit -v), the
// room that limit leaves.
func arenaLayout(m *tflite.Model) ([]int, int, error) {
	offsets := make([]int, len(m.Tensors))
	var total int64
	for i := range m.Tensors {
		t := &m.Tensors[i]
		n, err := tensorBytes(t)
		if err != nil {
			return nil, 0, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
		}
		n = (n + arenaAlign - 1) / arenaAlign * arenaAlign
		if n > MaxArenaBytes-total {
			return nil, 0, fmt.Errorf("tensor %d %q %v %v: the model's tensors need more than the %d MiB a model may use (MaxArenaBytes)",
				i, t.Name, t.Shape, t.Type, MaxArenaBytes>>20)
		}
		offsets[i] = int(total)
		total += n
	}
	if room, limited := addressSpaceRoom(); limited && total+arenaSlack > room {
		return nil, 0, fmt.Errorf("the model's tensors need %d MiB but the process's address-space limit (ulimit -v) leaves %d MiB",
			total>>20, max(room, 0)>>20)
	}
	return offsets, int(total), nil
}

// tensorBytes is t's size in bytes, refusing negative dimensions and sizes
// past MaxArenaBytes without overflowing.
func tensorBytes(t *tflite.Tensor) (int64, error) {
	n := int64(t.Type.Size())
	if n <= 0 {
		return 0, fmt.Errorf("unsupported type %v", t.Type)
	}
	for i, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is %d", i, d)
		}
		if d != 0 && n > MaxArenaBytes/int64(d) {
			return 0, fmt.Errorf("shape %v of %v is more than the %d MiB a model may use (MaxArenaBytes)", t.Shape, t.Type, MaxArenaBytes>>20)
		}
		n *= int64(d)
	}
	return n, nil
}

// addressSpaceRoom is how many bytes of address space the process may still
// map under RLIMIT_AS (ulimit -v). limited is false when there is no limit
// (RLIM_INFINITY is all ones, past MaxInt64) or it cannot be read; then
// nothing is refused on its account.
func addressSpaceRoom() (room int64, limited bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err != nil || rl.Cur > math.MaxInt64 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	return int64(rl.Cur) - pages*int64(os.Getpagesize()), true
}

// allocArena gives every tensor a 16-byte aligned slice of one allocation
// laid out by arenaLayout and copies constants in.
func allocArena(m *tflite.Model, offsets []int, total int) [][]byte {
	// Backing the arena with uint64s guarantees 8-byte alignment of its start;
	// large allocations are in practice page aligned.
	words := make([]uint64, (total+arenaAlign)/8)
	arena := unsafeBytes(words)
	// Round the start up to 16 bytes.
	shift := int((arenaAlign - uintptrOf(arena)%arenaAlign) % arenaAlign)
	arena = arena[shift : shift+total]
	bufs := make([][]byte, len(m.Tensors))
	for i := range m.Tensors {
		t := &m.Tensors[i]
		n := t.Bytes()
		bufs[i] = arena[offsets[i] : offsets[i]+n : offsets[i]+n]
		if t.IsConst() {
			copy(bufs[i], t.Data)
		}
	}
	return bufs
}
