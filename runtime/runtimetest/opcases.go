package runtimetest

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"edgenas/internal/atomicfile"
	"edgenas/tflite"
)

// OpCase is a one-operator int8 model for conformance tests of a single
// operator: ref against the float reference (Compare), other backends
// against ref, and, through the same models written with tflite.Write,
// Google's LiteRT (the conformance harness feeds OpCases to it).
type OpCase struct {
	Name  string
	Op    tflite.Opcode
	Model *tflite.Model
	// Exact means the operator only moves or selects values (no
	// arithmetic): every backend must give ref's bytes exactly.
	Exact bool
	// MaxQuanta is the largest error against the float reference TFLite's
	// rounding allows for this operator, in output quanta (for exact
	// operators, float32 noise of the dequantized reference only).
	MaxQuanta float64
}

// OpCases builds, from seed, a few cases of every int8 operator of common
// mobile vision and audio models edgenas runs, with random shapes,
// parameters and input quantization (fixed by the seed).
func OpCases(seed uint64) []OpCase {
	rng := rand.New(rand.NewPCG(seed, 0x0bca5e5))
	var out []OpCase
	add := func(name string, op tflite.Opcode, exact bool, tol float64, build func(g *Graph, r *rand.Rand)) {
		for k := range 3 {
			g := NewGraph(seed*131 + uint64(len(out)))
			r := rand.New(rand.NewPCG(rng.Uint64(), uint64(k)))
			build(g, r)
			out = append(out, OpCase{Name: fmt.Sprintf("%s/%d", name, k), Op: op, Model: g.Model(), Exact: exact, MaxQuanta: tol})
		}
	}
	addLayoutCases(add)
	addArithmeticCases(add)
	addClassicCases(add)
	return out
}

// addCase adds three cases of one operator, built by build from a seeded
// generator; exact and tol become the cases' Exact and MaxQuanta.
type addCase func(name string, op tflite.Opcode, exact bool, tol float64, build func(g *Graph, r *rand.Rand))

// Arithmetic rounds once to the output grid (half a quantum) and
// requantizes with TFLite's fixed-point multipliers (up to one more).
// Exact operators differ from the float reference by float32 noise.
const rounding, exactNoise = 1.5, 1e-3

// RESIZE_BILINEAR's int8 kernel positions samples in 10-bit fixed
// point (scale rounded to 1/1024), which moves a sample by up to
// v/2048 pixels: on steep random inputs, up to half a quantum more.
const bilinear = 2.0

// addLayoutCases adds the operators that only move or select values.
func addLayoutCases(add addCase) {
	add("MAX_POOL_2D", tflite.OpMaxPool2D, true, exactNoise, func(g *Graph, r *rand.Rand) {
		in := randInput(g, r, 4, 12)
		f := 2 + r.IntN(2)
		g.MaxPool(in, f, f, 1+r.IntN(2), randPadding(r), pick(r, tflite.ActNone, tflite.ActRelu))
	})
	add("CONCATENATION", tflite.OpConcatenation, true, exactNoise, func(g *Graph, r *rand.Rand) {
		sh := randShape(r, 4, 6)
		axis := r.IntN(4)
		q := randQuant(r)
		var ins []int
		for range 2 + r.IntN(2) {
			s := append([]int32(nil), sh...)
			s[axis] = int32(1 + r.IntN(5))
			ins = append(ins, g.Input(s, q))
		}
		if r.IntN(2) == 0 {
			axis -= 4 // negative axes count from the end
		}
		g.Concat(axis, ins...)
	})
	add("SQUEEZE", tflite.OpSqueeze, true, exactNoise, func(g *Graph, r *rand.Rand) {
		in := g.Input([]int32{1, int32(1 + r.IntN(6)), 1, int32(2 + r.IntN(6))}, randQuant(r))
		if r.IntN(2) == 0 {
			g.Squeeze(in)
		} else {
			g.Squeeze(in, 0, 2)
		}
	})
	add("STRIDED_SLICE", tflite.OpStridedSlice, true, exactNoise, func(g *Graph, r *rand.Rand) {
		sh := randShape(r, 4, 9)
		in := g.Input(sh, randQuant(r))
		s := SliceSpec{BeginMask: int32(r.IntN(16)), EndMask: int32(r.IntN(16))}
		for d := range 4 {
			n := int(sh[d])
			st := 1 + r.IntN(2)
			b, e := r.IntN(n), n-r.IntN(n)
			if r.IntN(4) == 0 { // walk backwards with negative indices
				st, b, e = -st, -1-r.IntN(n), -n-1
			}
			s.Begin, s.End, s.Strides = append(s.Begin, int32(b)), append(s.End, int32(e)), append(s.Strides, int32(st))
		}
		if sh[0] == 1 {
			s.ShrinkAxisMask = 1
			s.Begin[0], s.Strides[0] = 0, 1
			s.BeginMask &^= 1
		}
		g.StridedSlice(in, s)
	})
	add("RESIZE_NEAREST_NEIGHBOR", tflite.OpResizeNearestNeighbor, true, exactNoise, func(g *Graph, r *rand.Rand) {
		in := randInput(g, r, 2, 7)
		sh := g.Shape(in)
		align := r.IntN(3) == 0
		g.Resize(in, false, int(sh[1])*(1+r.IntN(3))+r.IntN(2), int(sh[2])*(1+r.IntN(3)), align, !align && r.IntN(2) == 0)
	})
}

// addArithmeticCases adds the vision and audio operators that compute or
// compare (RESIZE_BILINEAR, SUB, MAXIMUM, MINIMUM, TRANSPOSE_CONV).
func addArithmeticCases(add addCase) {
	add("RESIZE_BILINEAR", tflite.OpResizeBilinear, false, bilinear, func(g *Graph, r *rand.Rand) {
		in := randInput(g, r, 2, 7)
		sh := g.Shape(in)
		align := r.IntN(3) == 0
		g.Resize(in, true, int(sh[1])*(1+r.IntN(3))+r.IntN(2), int(sh[2])*(1+r.IntN(3)), align, !align && r.IntN(2) == 0)
	})
	add("SUB", tflite.OpSub, false, rounding, func(g *Graph, r *rand.Rand) {
		sh := randShape(r, 4, 6)
		a := g.Input(sh, randQuant(r))
		bsh := append([]int32(nil), sh...)
		if r.IntN(2) == 0 {
			bsh = []int32{1, 1, 1, sh[3]} // per-channel broadcast
		}
		b := g.Input(bsh, randQuant(r))
		g.Sub(a, b, pick(r, tflite.ActNone, tflite.ActRelu, tflite.ActRelu6), Quant{})
	})
	for _, isMax := range []bool{true, false} {
		name, op := "MINIMUM", tflite.OpMinimum
		if isMax {
			name, op = "MAXIMUM", tflite.OpMaximum
		}
		add(name, op, true, exactNoise, func(g *Graph, r *rand.Rand) {
			sh := randShape(r, 4, 6)
			q := randQuant(r)
			bsh := sh
			if r.IntN(2) == 0 {
				bsh = []int32{1, 1, sh[2], sh[3]}
			}
			g.MaxMin(g.Input(sh, q), g.Input(bsh, q), isMax)
		})
	}
	add("TRANSPOSE_CONV", tflite.OpTransposeConv, false, rounding, func(g *Graph, r *rand.Rand) {
		in := randInput(g, r, 2, 6)
		k := 2 + r.IntN(3)
		g.TransposeConv(in, TransposeConvSpec{OutChannels: 1 + r.IntN(8), KernelH: k, KernelW: k, Stride: 1 + r.IntN(2),
			Padding: randPadding(r), Activation: pick(r, tflite.ActNone, tflite.ActRelu), NoBias: r.IntN(4) == 0,
			PerTensor: r.IntN(2) == 0})
	})
}

// addClassicCases adds the operators of classic image classifiers
// (average pooling, activations, shape operators, MUL, MEAN, QUANTIZE,
// DEQUANTIZE), so the conformance harness covers the whole set.
func addClassicCases(add addCase) {
	add("AVERAGE_POOL_2D", tflite.OpAveragePool2D, false, rounding, func(g *Graph, r *rand.Rand) {
		g.AveragePool(randInput(g, r, 4, 10), 2+r.IntN(2), 1+r.IntN(2), randPadding(r))
	})
	add("SOFTMAX", tflite.OpSoftmax, false, rounding, func(g *Graph, r *rand.Rand) {
		g.Softmax(g.Input([]int32{int32(1 + r.IntN(3)), int32(2 + r.IntN(20))}, randQuant(r)), 1)
	})
	add("LOGISTIC", tflite.OpLogistic, false, rounding, func(g *Graph, r *rand.Rand) { g.Logistic(randInput(g, r, 2, 6)) })
	add("HARD_SWISH", tflite.OpHardSwish, false, rounding, func(g *Graph, r *rand.Rand) {
		g.HardSwish(randInput(g, r, 2, 6), Quant{})
	})
	add("RESHAPE", tflite.OpReshape, true, exactNoise, func(g *Graph, r *rand.Rand) {
		in := randInput(g, r, 2, 6)
		sh := g.Shape(in)
		g.Reshape(in, []int32{sh[0], sh[1] * sh[2] * sh[3]})
	})
	add("PAD", tflite.OpPad, true, exactNoise, func(g *Graph, r *rand.Rand) {
		p := func() int32 { return int32(r.IntN(3)) }
		g.Pad(randInput(g, r, 2, 6), [][2]int32{{0, 0}, {p(), p()}, {p(), p()}, {0, p()}})
	})
	add("TRANSPOSE", tflite.OpTranspose, true, exactNoise, func(g *Graph, r *rand.Rand) {
		perm := []int32{0, 1, 2, 3}
		r.Shuffle(4, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		g.Transpose(randInput(g, r, 2, 6), perm)
	})
	add("MUL", tflite.OpMul, false, rounding, func(g *Graph, r *rand.Rand) {
		sh := randShape(r, 2, 6)
		g.Mul(g.Input(sh, randQuant(r)), g.Input([]int32{1, 1, 1, sh[3]}, randQuant(r)), tflite.ActNone, Quant{})
	})
	add("MEAN", tflite.OpMean, false, rounding, func(g *Graph, r *rand.Rand) {
		keep, out := r.IntN(2) == 0, Quant{}
		if r.IntN(2) == 0 {
			out = randQuant(r) // requantizing, as in a converter's SE block
		}
		g.Mean(randInput(g, r, 2, 7), []int32{1, 2}, keep, out)
	})
	add("QUANTIZE", tflite.OpQuantize, false, rounding, func(g *Graph, r *rand.Rand) {
		g.Quantize(g.FloatInput(randShape(r, 2, 6)), randQuant(r))
	})
	add("DEQUANTIZE", tflite.OpDequantize, true, exactNoise, func(g *Graph, r *rand.Rand) {
		g.Dequantize(randInput(g, r, 2, 6))
	})
}

func pick[T any](r *rand.Rand, v ...T) T { return v[r.IntN(len(v))] }

func randPadding(r *rand.Rand) tflite.Padding {
	return pick(r, tflite.PaddingSame, tflite.PaddingValid)
}

// randShape is a random NHWC shape with batch 1 or 2 and other sizes in
// [lo, hi] (rank 4).
func randShape(r *rand.Rand, lo, hi int) []int32 {
	d := func() int32 { return int32(lo + r.IntN(hi-lo+1)) }
	return []int32{int32(1 + r.IntN(2)), d(), d(), d()}
}

// randQuant is a random activation quantization: scale in [0.005, 0.1),
// zero point in [-30, 30].
func randQuant(r *rand.Rand) Quant {
	return Quant{Scale: float32(0.005 + 0.095*r.Float64()), ZeroPoint: int8(r.IntN(61) - 30)}
}

func randInput(g *Graph, r *rand.Rand, lo, hi int) int {
	return g.Input(randShape(r, lo, hi), randQuant(r))
}

// WriteOpCaseFiles writes every case of OpCases(seed) to dir as
// NAME_K.tflite (RESIZE_BILINEAR/1 becomes RESIZE_BILINEAR_1.tflite) and
// returns the paths in case order: the hook through which a conformance
// harness outside Go (LiteRT via node) runs the same models as ref and
// xnnpack, comparing with ref within each case's Exact and MaxQuanta.
func WriteOpCaseFiles(dir string, seed uint64) ([]string, error) {
	var paths []string
	for _, c := range OpCases(seed) {
		data, err := tflite.Write(c.Model)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		p := filepath.Join(dir, strings.ReplaceAll(c.Name, "/", "_")+".tflite")
		if err := atomicfile.WriteFile(p, data); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
