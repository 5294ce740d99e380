package xnnpack

import (
	"encoding/binary"
	"fmt"

	"edgenas/tflite"
)

// Pure-Go graph helpers shared by the planner and the op translation: they
// read constant operands and find which tensors cross a partition's border.

// constInts returns the values of a constant int32 or int64 tensor (MEAN
// axes, PAD paddings, RESHAPE shapes).
func constInts(m *tflite.Model, t int) ([]int64, error) {
	if t < 0 || t >= len(m.Tensors) {
		return nil, fmt.Errorf("tensor index %d out of range", t)
	}
	tensor := &m.Tensors[t]
	if !tensor.IsConst() {
		return nil, fmt.Errorf("tensor %q is not constant", tensor.Name)
	}
	n := tensor.NumElements()
	if len(tensor.Data) != tensor.Bytes() {
		return nil, fmt.Errorf("tensor %q: %d data bytes, shape needs %d", tensor.Name, len(tensor.Data), tensor.Bytes())
	}
	out := make([]int64, n)
	switch tensor.Type {
	case tflite.Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(tensor.Data[4*i:])))
		}
	case tflite.Int64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(tensor.Data[8*i:]))
		}
	default:
		return nil, fmt.Errorf("tensor %q is %v, want int32 or int64", tensor.Name, tensor.Type)
	}
	return out, nil
}

// meanOverHW reports whether MEAN's axes select exactly H and W of a 4-D
// input, the only reduction XNNPACK expresses (as global average pooling).
func meanOverHW(m *tflite.Model, op *tflite.Operator) error {
	if len(op.Inputs) < 2 {
		return fmt.Errorf("MEAN without axes input")
	}
	in := &m.Tensors[op.Inputs[0]]
	if len(in.Shape) != 4 {
		return fmt.Errorf("MEAN input has rank %d, want 4", len(in.Shape))
	}
	axes, err := constInts(m, op.Inputs[1])
	if err != nil {
		return fmt.Errorf("MEAN axes: %w", err)
	}
	seen := [4]bool{}
	for _, a := range axes {
		if a < 0 {
			a += 4
		}
		if a < 0 || a > 3 {
			return fmt.Errorf("MEAN axis %d out of range", a)
		}
		seen[a] = true
	}
	if !seen[1] || !seen[2] || seen[0] || seen[3] {
		return fmt.Errorf("MEAN over axes %v, XNNPACK only averages over H and W (1, 2)", axes)
	}
	return nil
}

// borders returns, for the operators ops (a run in execution order), the
// non-constant tensors they read that they do not produce (inputs) and the
// tensors they produce that something outside reads or that are graph outputs
// (outputs). consumers[t] lists the operators reading tensor t.
func borders(m *tflite.Model, ops []int, consumers [][]int, graphOut map[int]bool) (inputs, outputs []int) {
	inRun := make(map[int]bool, len(ops))
	for _, o := range ops {
		inRun[o] = true
	}
	produced := map[int]bool{}
	seen := map[int]bool{}
	for _, o := range ops {
		op := &m.Operators[o]
		for _, t := range op.Inputs {
			if t < 0 || m.Tensors[t].IsConst() || produced[t] || seen[t] {
				continue
			}
			seen[t] = true
			inputs = append(inputs, t)
		}
		for _, t := range op.Outputs {
			produced[t] = true
		}
	}
	for _, o := range ops {
		for _, t := range m.Operators[o].Outputs {
			escapes := graphOut[t]
			for _, c := range consumers[t] {
				if !inRun[c] {
					escapes = true
				}
			}
			if escapes {
				outputs = append(outputs, t)
			}
		}
	}
	return inputs, outputs
}

// checkGraph verifies the model is well formed enough to plan: tensor
// indices in range, every activation written before it is read, and each
// tensor written once. It returns the consumers of each tensor.
func checkGraph(m *tflite.Model) ([][]int, error) {
	if m == nil {
		return nil, fmt.Errorf("nil model")
	}
	n := len(m.Tensors)
	written := make([]bool, n)
	for _, t := range m.Inputs {
		if t < 0 || t >= n {
			return nil, fmt.Errorf("graph input tensor %d out of range", t)
		}
		written[t] = true
	}
	for _, t := range m.Outputs {
		if t < 0 || t >= n {
			return nil, fmt.Errorf("graph output tensor %d out of range", t)
		}
	}
	consumers := make([][]int, n)
	for i := range m.Operators {
		op := &m.Operators[i]
		for _, t := range op.Inputs {
			if t == -1 {
				continue
			}
			if t < 0 || t >= n {
				return nil, fmt.Errorf("operator %d (%v): input tensor %d out of range", i, op.Op, t)
			}
			if !written[t] && !m.Tensors[t].IsConst() {
				return nil, fmt.Errorf("operator %d (%v) reads tensor %d %q before any operator writes it", i, op.Op, t, m.Tensors[t].Name)
			}
			consumers[t] = append(consumers[t], i)
		}
		for _, t := range op.Outputs {
			if t < 0 || t >= n {
				return nil, fmt.Errorf("operator %d (%v): output tensor %d out of range", i, op.Op, t)
			}
			if written[t] || m.Tensors[t].IsConst() {
				return nil, fmt.Errorf("operator %d (%v) writes tensor %d %q, which is a graph input, a constant or already written", i, op.Op, t, m.Tensors[t].Name)
			}
			written[t] = true
		}
	}
	for _, t := range m.Outputs {
		if !written[t] && !m.Tensors[t].IsConst() {
			return nil, fmt.Errorf("graph output tensor %d %q is never written", t, m.Tensors[t].Name)
		}
	}
	return consumers, nil
}

// group splits operators 0..n-1 into plan nodes: maximal runs of operators
// for which delegated(i) holds become one XNNPACK partition; every other
// operator is a node of its own on the reference kernels.
func group(n int, delegated func(int) bool) [][]int {
	var out [][]int
	for i := 0; i < n; {
		if !delegated(i) {
			out = append(out, []int{i})
			i++
			continue
		}
		j := i
		for j < n && delegated(j) {
			j++
		}
		run := make([]int, 0, j-i)
		for k := i; k < j; k++ {
			run = append(run, k)
		}
		out = append(out, run)
		i = j
	}
	return out
}
