// Package filelock lets one process at a time own a resource: an exclusive
// flock(2) on a lock file, which the kernel releases when the holder exits,
// even by a crash or SIGKILL, so a lock is never left stale. The file holds
// the holder's pid, so a refused process can say who is in the way.
//
// The lock file is never removed: unlinking a locked file would let a later
// process lock a new file of the same name while an earlier one still holds
// the old one.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// HeldError is the error for a lock another process (or another Acquire in
// this one) holds.
type HeldError struct {
	Path string
	// PID is the holder's process id, 0 if it had not written it yet.
	PID int
}

func (e *HeldError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is held by another process (it has not written its pid yet)", e.Path)
	}
	return fmt.Sprintf("%s is held by process %d", e.Path, e.PID)
}

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path (creating the file) without waiting; if it
// is held, the error is a *HeldError naming the holder's pid.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &HeldError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. The pid is cleared first so a stale number is
// never reported.
func (l *Lock) Release() error {
	l.f.Truncate(0)
	return l.f.Close()
}
