// Package safefile opens files that a command was only asked to read, so a
// path naming a FIFO, a device or a socket gets a clear error instead of a
// read that blocks forever (and so outlives SIGINT/SIGTERM), and a file
// larger than the caller's bound is refused before it is read into memory.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrTooLarge is wrapped by the error for a file over the caller's limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is wrapped by the error for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file of at most limit bytes
// (limit <= 0: no size bound) and returns the file and its size. The type is
// checked before opening (opening some devices has side effects), and again
// on the open descriptor, which is opened non-blocking so that a path swapped
// for a FIFO in between cannot block the open either.
func Open(path string, limit int64) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if err := check(path, st, limit); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err = f.Stat()
	if err == nil {
		err = check(path, st, limit)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func check(path string, st os.FileInfo, limit int64) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (it is a %s)", path, ErrNotRegular, kind(st.Mode()))
	}
	if limit > 0 && st.Size() > limit {
		return fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), limit)
	}
	return nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	default:
		return "special file (mode " + m.String() + ")"
	}
}

// ReadFile is os.ReadFile for a regular file of at most limit bytes
// (limit <= 0: no bound). It reads exactly the size the file had when
// opened, so a file that grows meanwhile cannot push it past the limit; a
// size change during the read is an error.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, size, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("read %s: %w (did it shrink while being read?)", path, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("read %s: it grew past %d bytes while being read", path, size)
	}
	return buf, nil
}
