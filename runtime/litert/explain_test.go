package litert_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"edgenas/runtime/litert"
	"edgenas/runtime/xnnpack"
	"edgenas/tflite"
)

// firstDifference runs every prefix of m (its first k operators, the k-th
// operator's output as the graph output) on LiteRT and on edgenas's
// xnnpack backend with input set in, and names the first operator whose
// output differs, for a useful failure message when a whole model is not
// bit-exact.
func firstDifference(t *testing.T, r *litert.Runtime, m *tflite.Model, in [][]byte) string {
	t.Helper()
	prefix := func(n int) *tflite.Model {
		p := *m
		p.Operators, p.Outputs = m.Operators[:n], []int{m.Operators[n-1].Outputs[0]}
		return &p
	}
	jobs := make([]litert.Job, len(m.Operators))
	for k := range m.Operators {
		b, err := tflite.Write(prefix(k + 1))
		if err != nil {
			return fmt.Sprintf("prefix of %d operators: %v", k+1, err)
		}
		jobs[k] = litert.Job{Model: b, Inputs: [][][]byte{in}}
	}
	res, err := r.RunBatch(context.Background(), jobs)
	if err != nil {
		return err.Error()
	}
	for k := range m.Operators {
		if res[k].Err != nil {
			return fmt.Sprintf("operator %d alone: %v", k, res[k].Err)
		}
		want := runOn(t, xnnpack.Backend{}, prefix(k+1), [][][]byte{in})[0][0]
		if got := res[k].Outputs[0][0]; !bytes.Equal(got, want) {
			return fmt.Sprintf("operator %d (%v) is the first to differ", k, m.Operators[k].Op)
		}
	}
	return "no single operator differs, yet the whole model does"
}
