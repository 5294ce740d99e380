package litert_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"

	"edgenas/runtime/litert"
	"edgenas/tflite"
)

// meanTieTolerance is how close to a half-quantum tie a MEAN's exact value
// must be for the runtimes' difference to count as fp32 tie rounding: a few
// fp32 ulps at the int8 range (ulp(128) is 1.5e-5).
const meanTieTolerance = 1e-4

// explainDifference finds the first operator of m whose output differs
// between LiteRT and edgenas's xnnpack backend on input set in. The one
// difference it accepts is an int8 MEAN over H and W whose differing
// elements are all exact half-quantum ties: Debian's XNNPACK (2022) runs
// MEAN as global average pooling, LiteRT's newer XNNPACK as a reduction
// with another fp32 scale, and a tie rounds one way or the other depending
// on the last bit of that scale. It returns a description of such a
// difference, or an error naming anything else.
func explainDifference(t *testing.T, r *litert.Runtime, m *tflite.Model, in [][]byte) (string, error) {
	t.Helper()
	prefix := func(n int, out int) *tflite.Model {
		p := *m
		p.Operators, p.Outputs = m.Operators[:n], []int{out}
		return &p
	}
	jobs := make([]litert.Job, len(m.Operators))
	for k := range m.Operators {
		b, err := tflite.Write(prefix(k+1, m.Operators[k].Outputs[0]))
		if err != nil {
			return "", err
		}
		jobs[k] = litert.Job{Model: b, Inputs: [][][]byte{in}}
	}
	res, err := r.RunBatch(context.Background(), jobs)
	if err != nil {
		return "", err
	}
	for k := range m.Operators {
		if res[k].Err != nil {
			return "", fmt.Errorf("operator %d alone: %w", k, res[k].Err)
		}
		want := runXNNPACK(t, prefix(k+1, m.Operators[k].Outputs[0]), [][][]byte{in})[0][0]
		got := res[k].Outputs[0][0]
		if bytes.Equal(got, want) {
			continue
		}
		op := &m.Operators[k]
		if op.Op != tflite.OpMean {
			return "", fmt.Errorf("operator %d (%v) is the first to differ", k, op.Op)
		}
		x := in[0]
		if src := op.Inputs[0]; src != m.Inputs[0] {
			x = runXNNPACK(t, prefix(k, src), [][][]byte{in})[0][0]
		}
		return meanTies(m, op, x, want, got, k)
	}
	return "", fmt.Errorf("no single operator differs, yet the whole model does")
}

// meanTies checks that every element where the two MEAN outputs differ is
// a half-quantum tie of the exact mean of x, rounded to the two neighbours.
func meanTies(m *tflite.Model, op *tflite.Operator, x, a, b []byte, k int) (string, error) {
	it, ot := &m.Tensors[op.Inputs[0]], &m.Tensors[op.Outputs[0]]
	if len(it.Shape) != 4 || it.Quant == nil || ot.Quant == nil || ot.NumElements() != int(it.Shape[3]) {
		return "", fmt.Errorf("operator %d MEAN %v -> %v is not an int8 mean over H and W", k, it.Shape, ot.Shape)
	}
	c := int(it.Shape[3])
	n := len(x) / c
	si, zi := float64(it.Quant.Scale[0]), float64(it.Quant.ZeroPoint[0])
	so, zo := float64(ot.Quant.Scale[0]), float64(ot.Quant.ZeroPoint[0])
	ties, worst := 0, 0.0
	for ch := range c {
		if a[ch] == b[ch] {
			continue
		}
		sum := 0
		for p := range n {
			sum += int(int8(x[p*c+ch]))
		}
		exact := (float64(sum)-float64(n)*zi)*si/(float64(n)*so) + zo
		lo, hi := math.Floor(exact), math.Ceil(exact)
		va, vb := float64(int8(a[ch])), float64(int8(b[ch]))
		if math.Abs(exact-lo-0.5) > meanTieTolerance || math.Min(va, vb) != lo || math.Max(va, vb) != hi {
			return "", fmt.Errorf("operator %d MEAN channel %d: exact %.6f, xnnpack %v, LiteRT %v: not a tie", k, ch, exact, va, vb)
		}
		ties++
		worst = math.Max(worst, math.Abs(exact-lo-0.5))
	}
	return fmt.Sprintf("operator %d MEAN rounds %d half-quantum tie(s) differently (at most %.2g from the tie)", k, ties, worst), nil
}
