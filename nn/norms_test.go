package nn

import (
	"math"
	"testing"
)

func TestKernelNorm(t *testing.T) {
	// 5x5x2 kernel: channel 0 all ones, channel 1 all twos.
	w := make([]float32, 5*5*2)
	for i := range w {
		w[i] = float32(1 + i%2)
	}
	cases := []struct {
		sub, exclude, c0, c1 int
		want                 float64
	}{
		{5, 0, 0, 1, 5},                  // sqrt(25)
		{3, 0, 0, 1, 3},                  // sqrt(9)
		{5, 3, 0, 1, 4},                  // sqrt(25-9)
		{5, 3, 1, 2, 8},                  // sqrt(16*4)
		{3, 1, 0, 2, math.Sqrt(8 + 8*4)}, // ring of 8 taps, both channels
		{1, 0, 0, 2, math.Sqrt(1 + 4)},   // centre tap
	}
	for _, c := range cases {
		got, err := KernelNorm(w, 5, 2, c.sub, c.exclude, c.c0, c.c1)
		if err != nil || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("sub %d excl %d ch [%d,%d): %v, %v; want %v", c.sub, c.exclude, c.c0, c.c1, got, err, c.want)
		}
	}
	for _, bad := range [][4]int{{4, 0, 0, 1}, {5, 5, 0, 1}, {5, 0, 1, 1}, {7, 0, 0, 1}, {5, 0, 0, 3}} {
		if _, err := KernelNorm(w, 5, 2, bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("window %v accepted", bad)
		}
	}
}
