package runtime

import (
	"fmt"
	"strings"

	"edgenas/tflite"
)

// Supporter is implemented by backends that can say, operator by operator
// and without loading the model, whether they run it (inspect's per-backend
// columns; the agent's check before install).
type Supporter interface {
	// Supports reports whether the backend runs operator op of m as the
	// model has it (types, shapes, options); reason says where it runs
	// when ok ("xnnpack", "ref fallback: ...") and why not otherwise.
	Supports(m *tflite.Model, op int) (ok bool, reason string)
}

// UnsupportedOp is one operator a backend cannot run.
type UnsupportedOp struct {
	Index  int    `json:"index"`
	Name   string `json:"op"`
	Reason string `json:"reason"`
}

// UnsupportedError lists every operator of a model a backend cannot run.
type UnsupportedError struct {
	Backend string
	Ops     []UnsupportedOp
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s backend cannot run %s", e.Backend, e.Summary())
}

// Summary names the operators, grouped by name in order of first use:
// "SVDF (operators 0, 2: SVDF is not modelled by edgenas)".
func (e *UnsupportedError) Summary() string {
	var order []string
	byName := map[string][]UnsupportedOp{}
	for _, o := range e.Ops {
		if _, ok := byName[o.Name]; !ok {
			order = append(order, o.Name)
		}
		byName[o.Name] = append(byName[o.Name], o)
	}
	parts := make([]string, len(order))
	for i, n := range order {
		ops := byName[n]
		idx := make([]string, len(ops))
		for k, o := range ops {
			idx[k] = fmt.Sprint(o.Index)
		}
		word := "operator"
		if len(ops) > 1 {
			word = "operators"
		}
		parts[i] = fmt.Sprintf("%s (%s %s: %s)", n, word, strings.Join(idx, ", "), ops[0].Reason)
	}
	return strings.Join(parts, "; ")
}

// OpNames are the distinct operator names in e, in order of first use.
func (e *UnsupportedError) OpNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range e.Ops {
		if !seen[o.Name] {
			seen[o.Name] = true
			out = append(out, o.Name)
		}
	}
	return out
}

// CheckSupported asks s about every operator of m and returns an
// *UnsupportedError listing those it cannot run, or nil.
func CheckSupported(name string, s Supporter, m *tflite.Model) error {
	var bad []UnsupportedOp
	for i := range m.Operators {
		if ok, reason := s.Supports(m, i); !ok {
			bad = append(bad, UnsupportedOp{Index: i, Name: m.Operators[i].Name(), Reason: reason})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &UnsupportedError{Backend: name, Ops: bad}
}

// UnmodelledReason says why no edgenas backend can run operator o of m
// whatever its kernels: what the reader did not decode (Operator.Undecoded),
// or an operand stored sparse or with custom quantization details. It is
// "" when the operator is for the kernels to judge.
func UnmodelledReason(m *tflite.Model, o *tflite.Operator) string {
	if o.Undecoded != "" {
		return o.Undecoded
	}
	for _, ts := range [][]int{o.Inputs, o.Outputs} {
		for _, t := range ts {
			if t < 0 || t >= len(m.Tensors) {
				continue
			}
			tt := &m.Tensors[t]
			if tt.Sparse {
				return fmt.Sprintf("tensor %q is stored sparse", tt.Name)
			}
			if tt.Quant != nil && tt.Quant.Custom {
				return fmt.Sprintf("tensor %q has custom quantization", tt.Name)
			}
		}
	}
	return ""
}

// Unmodelled returns an *UnsupportedError for backend listing the operators
// of m that no edgenas backend runs (see UnmodelledReason), or nil.
// Backends call it first so their Load errors name every such operator.
func Unmodelled(backend string, m *tflite.Model) error {
	var bad []UnsupportedOp
	for i := range m.Operators {
		o := &m.Operators[i]
		if r := UnmodelledReason(m, o); r != "" {
			bad = append(bad, UnsupportedOp{Index: i, Name: o.Name(), Reason: r})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &UnsupportedError{Backend: backend, Ops: bad}
}
