// Package progress reports long work as it goes: items done of total, rate,
// and estimated time left, on one line per update (log-friendly: no cursor
// tricks, so it reads the same in a terminal, a CI log, or a file).
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Bar tracks one piece of work. The zero value is not usable; call New.
// It is safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// New starts a bar for total items, writing to w (nil discards). Updates are
// printed at most once per interval, plus the first and the last.
func New(w io.Writer, label string, total int) *Bar {
	if w == nil {
		w = io.Discard
	}
	return &Bar{w: w, label: label, total: total, start: time.Now(), interval: time.Second, now: time.Now}
}

// SetInterval changes how often updates print.
func (b *Bar) SetInterval(d time.Duration) { b.mu.Lock(); b.interval = d; b.mu.Unlock() }

// Add records n more items done, with an optional note (what just finished).
func (b *Bar) Add(n int, note string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	now := b.now()
	if b.done < b.total && b.done > n && now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	fmt.Fprintln(b.w, b.line(now, note))
}

// Line is the current status line.
func (b *Bar) Line() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.line(b.now(), "")
}

func (b *Bar) line(now time.Time, note string) string {
	el := now.Sub(b.start)
	pct := 0.0
	if b.total > 0 {
		pct = 100 * float64(b.done) / float64(b.total)
	}
	s := fmt.Sprintf("%s: %d/%d (%.0f%%)", b.label, b.done, b.total, pct)
	if b.done > 0 && el > 0 {
		rate := float64(b.done) / el.Seconds()
		s += fmt.Sprintf(", %.2f/s", rate)
		if left := b.total - b.done; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second))
			s += ", ETA " + eta.Round(time.Second).String()
		}
	}
	s += ", elapsed " + el.Round(time.Second).String()
	if note != "" {
		s += " | " + note
	}
	return s
}

// Done is the number of items recorded so far.
func (b *Bar) Done() int { b.mu.Lock(); defer b.mu.Unlock(); return b.done }
