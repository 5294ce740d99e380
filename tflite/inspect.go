package tflite

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Summary describes a model for `edgenas model inspect`: per operator its
// shapes, types, quantization and cost, per tensor its layout, and totals.
// It marshals to JSON as is.
type Summary struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Inputs      []int             `json:"inputs"`
	Outputs     []int             `json:"outputs"`
	Operators   []OperatorSummary `json:"operators"`
	Tensors     []TensorSummary   `json:"tensors"`
	// OpCounts counts operators by name (CONV_2D: 14).
	OpCounts map[string]int `json:"op_counts"`
	// MACs is the total multiply-accumulates of one inference.
	MACs int64 `json:"macs"`
	// Params counts the elements of the constant weights and biases (each
	// constant tensor once, however many operators use it).
	Params int64 `json:"params"`
	// ConstBytes is the size of all constant data.
	ConstBytes int64 `json:"const_bytes"`
	// ActivationBytes is the summed size of all non-constant tensors (an
	// upper bound of the arena a runtime needs without buffer reuse).
	ActivationBytes int64 `json:"activation_bytes"`
}

// OperatorSummary describes one operator. Omitted optional inputs have a nil
// shape and an empty type.
type OperatorSummary struct {
	Index        int       `json:"index"`
	Op           string    `json:"op"`
	Version      int32     `json:"version"`
	Options      string    `json:"options,omitempty"`
	Inputs       []int     `json:"inputs"`
	Outputs      []int     `json:"outputs"`
	InputShapes  [][]int32 `json:"input_shapes"`
	InputTypes   []string  `json:"input_types"`
	OutputShapes [][]int32 `json:"output_shapes"`
	OutputTypes  []string  `json:"output_types"`
	// InputQuant and OutputQuant summarize the first input's and output's
	// quantization ("" when unquantized).
	InputQuant  string `json:"input_quant,omitempty"`
	OutputQuant string `json:"output_quant,omitempty"`
	MACs        int64  `json:"macs"`
	// Params counts the elements of the operator's constant weights and bias.
	Params int64 `json:"params"`
	// OutputElements is the number of values the operator produces; it is
	// the cost measure of operators without MACs (ADD, pooling...).
	OutputElements int64 `json:"output_elements"`
}

// TensorSummary describes one tensor.
type TensorSummary struct {
	Index int     `json:"index"`
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int32 `json:"shape"`
	Const bool    `json:"const"`
	Bytes int64   `json:"bytes"`
	// Quant is the quantization summary ("" when unquantized).
	Quant string `json:"quant,omitempty"`
}

// weightInputs are the input positions holding an operator's learned
// parameters (filter and bias); other constant inputs, like PAD's paddings
// or RESHAPE's shape, are configuration, not parameters.
func weightInputs(op Opcode) []int {
	switch op {
	case OpConv2D, OpDepthwiseConv2D, OpFullyConnected:
		return []int{1, 2}
	case OpAdd, OpMul:
		return []int{0, 1}
	}
	return nil
}

// tensorAt returns the tensor an operator references, or nil for an omitted
// optional input or an index out of range (Summarize never panics, even on
// a model that fails Validate).
func (m *Model) tensorAt(idx int) *Tensor {
	if idx < 0 || idx >= len(m.Tensors) {
		return nil
	}
	return &m.Tensors[idx]
}

func dim(t *Tensor, i int) int64 {
	if t == nil || i < 0 || i >= len(t.Shape) {
		return 0
	}
	return int64(t.Shape[i])
}

func elements(t *Tensor) int64 {
	if t == nil {
		return 0
	}
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

func input(m *Model, op *Operator, i int) *Tensor {
	if i >= len(op.Inputs) {
		return nil
	}
	return m.tensorAt(op.Inputs[i])
}

// MACs is the number of multiply-accumulates operator i performs in one
// inference: CONV_2D out_h*out_w*out_c*kh*kw*in_c/groups, DEPTHWISE_CONV_2D
// out_h*out_w*out_c*kh*kw, FULLY_CONNECTED in*out (each times the batch);
// 0 for every other operator (see OperatorSummary.OutputElements).
func (m *Model) MACs(i int) int64 {
	if i < 0 || i >= len(m.Operators) {
		return 0
	}
	op := &m.Operators[i]
	if len(op.Outputs) == 0 {
		return 0
	}
	out := m.tensorAt(op.Outputs[0])
	w := input(m, op, 1)
	switch op.Op {
	case OpConv2D:
		// Filter [out_c, kh, kw, in_c/groups]: the per-output cost is the
		// filter's inner size, which already accounts for groups.
		return elements(out) * dim(w, 1) * dim(w, 2) * dim(w, 3)
	case OpDepthwiseConv2D:
		// Filter [1, kh, kw, out_c].
		return elements(out) * dim(w, 1) * dim(w, 2)
	case OpFullyConnected:
		// Weights [out, in]; every output value is one dot product of in.
		return elements(out) * dim(w, 1)
	}
	return 0
}

// OpMACs is m.MACs(i), as a function for callers that iterate models.
func OpMACs(m *Model, i int) int64 { return m.MACs(i) }

// Params counts the elements of operator i's constant weights and bias.
func (m *Model) Params(i int) int64 {
	if i < 0 || i >= len(m.Operators) {
		return 0
	}
	op := &m.Operators[i]
	var n int64
	for _, pos := range weightInputs(op.Op) {
		if t := input(m, op, pos); t != nil && t.IsConst() {
			n += elements(t)
		}
	}
	return n
}

// Summarize describes m. It does not require m to be valid.
func Summarize(m *Model) Summary {
	s := Summary{
		Name:        m.Name,
		Description: m.Description,
		Inputs:      m.Inputs,
		Outputs:     m.Outputs,
		OpCounts:    map[string]int{},
		Operators:   make([]OperatorSummary, len(m.Operators)),
		Tensors:     make([]TensorSummary, len(m.Tensors)),
	}
	for i := range m.Tensors {
		t := &m.Tensors[i]
		b := elements(t) * int64(t.Type.Size())
		s.Tensors[i] = TensorSummary{
			Index: i, Name: t.Name, Type: t.Type.String(), Shape: t.Shape,
			Const: t.IsConst(), Bytes: b, Quant: quantString(t.Quant),
		}
		if t.IsConst() {
			s.ConstBytes += int64(len(t.Data))
		} else {
			s.ActivationBytes += b
		}
	}
	counted := make([]bool, len(m.Tensors))
	for i := range m.Operators {
		op := &m.Operators[i]
		opSum := OperatorSummary{
			Index: i, Op: op.Op.String(), Version: op.Version, Options: optionsString(op.Options),
			Inputs: op.Inputs, Outputs: op.Outputs, MACs: m.MACs(i), Params: m.Params(i),
		}
		for _, idx := range op.Inputs {
			t := m.tensorAt(idx)
			if t == nil {
				opSum.InputShapes = append(opSum.InputShapes, nil)
				opSum.InputTypes = append(opSum.InputTypes, "")
				continue
			}
			opSum.InputShapes = append(opSum.InputShapes, t.Shape)
			opSum.InputTypes = append(opSum.InputTypes, t.Type.String())
		}
		for _, idx := range op.Outputs {
			t := m.tensorAt(idx)
			if t == nil {
				opSum.OutputShapes = append(opSum.OutputShapes, nil)
				opSum.OutputTypes = append(opSum.OutputTypes, "")
				continue
			}
			opSum.OutputShapes = append(opSum.OutputShapes, t.Shape)
			opSum.OutputTypes = append(opSum.OutputTypes, t.Type.String())
			opSum.OutputElements += elements(t)
		}
		if t := input(m, op, 0); t != nil {
			opSum.InputQuant = quantString(t.Quant)
		}
		if len(op.Outputs) > 0 {
			if t := m.tensorAt(op.Outputs[0]); t != nil {
				opSum.OutputQuant = quantString(t.Quant)
			}
		}
		for _, pos := range weightInputs(op.Op) {
			if pos < len(op.Inputs) {
				if idx := op.Inputs[pos]; idx >= 0 && idx < len(m.Tensors) && !counted[idx] && m.Tensors[idx].IsConst() {
					counted[idx] = true
					s.Params += elements(&m.Tensors[idx])
				}
			}
		}
		s.MACs += opSum.MACs
		s.OpCounts[opSum.Op]++
		s.Operators[i] = opSum
	}
	return s
}

// quantString summarizes quantization parameters: "s=0.0078 zp=-1" per
// tensor, "128ch s=[1e-05..0.02] axis=3" per channel.
func quantString(q *Quantization) string {
	if q == nil || len(q.Scale) == 0 {
		return ""
	}
	if len(q.Scale) == 1 {
		zp := int64(0)
		if len(q.ZeroPoint) > 0 {
			zp = q.ZeroPoint[0]
		}
		return fmt.Sprintf("s=%.4g zp=%d", q.Scale[0], zp)
	}
	lo, hi := q.Scale[0], q.Scale[0]
	for _, s := range q.Scale {
		lo, hi = min(lo, s), max(hi, s)
	}
	return fmt.Sprintf("%dch s=[%.3g..%.3g] axis=%d", len(q.Scale), lo, hi, q.Axis)
}

// optionsString renders an operator's options compactly ("3x3 s2 SAME RELU6"
// style, filter size aside since it lives in the weights).
func optionsString(o any) string {
	act := func(a Activation) string {
		if a == ActNone {
			return ""
		}
		return " " + a.String()
	}
	switch o := o.(type) {
	case *Conv2DOptions:
		s := fmt.Sprintf("s%dx%d %v%s", o.StrideH, o.StrideW, o.Padding, act(o.Activation))
		if o.DilationH != 1 || o.DilationW != 1 {
			s += fmt.Sprintf(" d%dx%d", o.DilationH, o.DilationW)
		}
		return s
	case *DepthwiseConv2DOptions:
		s := fmt.Sprintf("s%dx%d %v%s", o.StrideH, o.StrideW, o.Padding, act(o.Activation))
		if o.DepthMultiplier != 1 {
			s += fmt.Sprintf(" mult%d", o.DepthMultiplier)
		}
		if o.DilationH != 1 || o.DilationW != 1 {
			s += fmt.Sprintf(" d%dx%d", o.DilationH, o.DilationW)
		}
		return s
	case *Pool2DOptions:
		return fmt.Sprintf("%dx%d s%dx%d %v%s", o.FilterHeight, o.FilterWidth, o.StrideH, o.StrideW, o.Padding, act(o.Activation))
	case *FullyConnectedOptions:
		s := strings.TrimSpace(act(o.Activation))
		if o.KeepNumDims {
			s = strings.TrimSpace(s + " keep_num_dims")
		}
		return s
	case *AddOptions:
		return strings.TrimSpace(act(o.Activation))
	case *MulOptions:
		return strings.TrimSpace(act(o.Activation))
	case *SoftmaxOptions:
		return fmt.Sprintf("beta=%g", o.Beta)
	case *ReducerOptions:
		if o.KeepDims {
			return "keep_dims"
		}
	case *ReshapeOptions:
		if o.NewShape != nil {
			return fmt.Sprintf("new_shape=%v", o.NewShape)
		}
	}
	return ""
}

// WriteText renders s as a human-readable table: one row per operator, then
// the totals.
func (s Summary) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "model %q", s.Name)
	if s.Description != "" {
		fmt.Fprintf(w, " (%s)", s.Description)
	}
	fmt.Fprintf(w, ": %d operators, %d tensors\n", len(s.Operators), len(s.Tensors))
	for _, i := range s.Inputs {
		fmt.Fprintf(w, "input  %s\n", s.tensorLine(i))
	}
	for _, i := range s.Outputs {
		fmt.Fprintf(w, "output %s\n", s.tensorLine(i))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\top\tv\toptions\tinputs\toutput\tout quant\tMACs\tparams")
	for _, o := range s.Operators {
		var ins []string
		for k, sh := range o.InputShapes {
			if sh == nil && o.InputTypes[k] == "" {
				ins = append(ins, "-")
				continue
			}
			ins = append(ins, shapeString(sh))
		}
		var outs []string
		for _, sh := range o.OutputShapes {
			outs = append(outs, shapeString(sh))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", o.Index, o.Op, o.Version, o.Options,
			strings.Join(ins, " "), strings.Join(outs, " "), o.OutputQuant, humanCount(o.MACs), o.Params)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "total: %s MACs (%d), %d params, %d constant bytes, %d activation bytes\n",
		humanCount(s.MACs), s.MACs, s.Params, s.ConstBytes, s.ActivationBytes)
	return err
}

func (s Summary) tensorLine(i int) string {
	if i < 0 || i >= len(s.Tensors) {
		return fmt.Sprintf("tensor %d (out of range)", i)
	}
	t := s.Tensors[i]
	line := fmt.Sprintf("%d %q %s %s", i, t.Name, t.Type, shapeString(t.Shape))
	if t.Quant != "" {
		line += " " + t.Quant
	}
	return line
}

func shapeString(sh []int32) string {
	parts := make([]string, len(sh))
	for i, d := range sh {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// humanCount renders a count with a k/M/G suffix.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
