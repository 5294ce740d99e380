//go:build cgo

package xnnpack

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/tflite"
)

var _ runtime.Backend = Backend{}

type opCase struct {
	name string
	m    *tflite.Model
	// where is the backend expected for each operator, in order.
	where []string
	// tol is the largest allowed difference from the float reference, in quanta.
	tol int
}

const (
	x = backendXNNPACK
	r = backendRef
)

func opCases() []opCase {
	same, valid := tflite.PaddingSame, tflite.PaddingValid
	return []opCase{
		{"conv3x3 s2 SAME relu6 per-channel", convModel(1, []int32{1, 9, 9, 8}, 16, 3, 2, same, tflite.ActRelu6, 0, 1), []string{x}, 1},
		{"conv1x1 VALID per-tensor", convModel(2, []int32{1, 6, 6, 12}, 8, 1, 1, valid, tflite.ActNone, -1, 1), []string{x}, 1},
		{"conv3x3 s1 VALID dilation 2 relu", convModel(3, []int32{1, 10, 10, 4}, 8, 3, 1, valid, tflite.ActRelu, 0, 2), []string{x}, 1},
		{"conv3x3 s1 SAME even input", convModel(4, []int32{1, 8, 8, 3}, 8, 3, 1, same, tflite.ActNone, 0, 1), []string{x}, 1},
		{"dw3x3 s1 SAME relu6", dwModel(5, []int32{1, 8, 8, 16}, 1, 3, 1, same, tflite.ActRelu6), []string{x}, 1},
		{"dw3x3 s2 SAME", dwModel(6, []int32{1, 9, 9, 8}, 1, 3, 2, same, tflite.ActNone), []string{x}, 1},
		{"dw5x5 s1 SAME", dwModel(7, []int32{1, 7, 7, 8}, 1, 5, 1, same, tflite.ActNone), []string{x}, 1},
		{"dw5x5 s2 SAME even input", dwModel(8, []int32{1, 10, 10, 8}, 1, 5, 2, same, tflite.ActRelu6), []string{x}, 1},
		{"dw3x3 multiplier 2 VALID", dwModel(9, []int32{1, 7, 7, 4}, 2, 3, 1, valid, tflite.ActNone), []string{x}, 1},
		{"dw3x3 multiplier 8 (person_detect's first)", dwModel(10, []int32{1, 6, 6, 1}, 8, 3, 2, same, tflite.ActRelu6), []string{x}, 1},
		{"dw3x3 s2 SAME per-tensor filter", dwModelAxis(21, []int32{1, 9, 9, 8}, 1, 3, 2, same, tflite.ActRelu, -1), []string{x}, 1},
		{"residual ADD different scales", addModel(11, tflite.ActNone), []string{x}, 1},
		{"ADD relu", addModel(12, tflite.ActRelu), []string{x}, 1},
		{"SE path MEAN FC LOGISTIC RESHAPE MUL", seModel(13, -1), []string{x, x, x, x, x, x}, 2},
		{"max pool 3x3 s2 SAME", poolModel(14, tflite.OpMaxPool2D, 3, 2, same), []string{x}, 0},
		{"PAD", padModel(15), []string{x}, 0},
		{"LOGISTIC", unaryModel(16, tflite.OpLogistic, nil, 1, 4, 4, 8), []string{x}, 1},
		{"HARD_SWISH", unaryModel(17, tflite.OpHardSwish, nil, 1, 4, 4, 8), []string{r}, 1},
		{"SOFTMAX", unaryModel(18, tflite.OpSoftmax, &tflite.SoftmaxOptions{Beta: 1}, 1, 10), []string{r}, 1},
		{"avg pool 3x3 s2 SAME", poolModel(19, tflite.OpAveragePool2D, 3, 2, same), []string{r}, 1},
		{"SE path with per-channel FC", seModel(20, 0), []string{x, r, r, x, x, x}, 2},
	}
}

// TestPlacement checks which operators this XNNPACK build accepts, against
// the real library.
func TestPlacement(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for i := range c.m.Operators {
				where := x
				if err := probe(c.m, i); err != nil {
					where = r
					t.Logf("op %d %v: %v", i, c.m.Operators[i].Op, err)
				}
				got = append(got, where)
			}
			if strings.Join(got, ",") != strings.Join(c.where, ",") {
				t.Errorf("placement %v, want %v", got, c.where)
			}
		})
	}
}

func run(t testing.TB, m *tflite.Model, threads int, inputs [][]byte) [][]byte {
	t.Helper()
	it, err := Backend{}.Load(m, runtime.Options{Threads: threads})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer it.Close()
	for i, in := range inputs {
		if err := it.SetInput(i, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Invoke(); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var outs [][]byte
	for i := range m.Outputs {
		outs = append(outs, it.Output(i))
	}
	return outs
}

// TestOpsAgainstFloat runs each model and compares with the float reference
// computed on the dequantized tensors.
func TestOpsAgainstFloat(t *testing.T) {
	for k, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 99))
			for trial := range 3 {
				in := randomInputs(c.m, rng)
				want := reference(c.m, in)
				got := run(t, c.m, 1, in)
				for o := range want {
					if n := distinct(want[o]); n < min(8, len(want[o])/2) {
						t.Fatalf("reference output %d takes only %d distinct values: the test model is degenerate", o, n)
					}
					if d := maxDiff(got[o], want[o]); d > c.tol {
						t.Errorf("trial %d output %d: %d quanta from the float reference (tolerance %d)", trial, o, d, c.tol)
					}
				}
			}
		})
	}
}

// TestThreads checks that two threads compute exactly what one does.
func TestThreads(t *testing.T) {
	m := convModel(30, []int32{1, 16, 16, 16}, 32, 3, 1, tflite.PaddingSame, tflite.ActRelu6, 0, 1)
	in := randomInputs(m, rand.New(rand.NewPCG(1, 2)))
	one, two := run(t, m, 1, in), run(t, m, 2, in)
	if !bytes.Equal(one[0], two[0]) {
		t.Errorf("2 threads differ from 1 by %d quanta", maxDiff(one[0], two[0]))
	}
}

func distinct(b []byte) int {
	seen := map[byte]bool{}
	for _, v := range b {
		seen[v] = true
	}
	return len(seen)
}
