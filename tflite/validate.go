package tflite

import (
	"errors"
	"fmt"
	"math"
)

// maxElements bounds a tensor's element count: TFLite sizes tensors with
// int, and no edge model comes near it.
const maxElements = math.MaxInt32

// opArity is the allowed number of inputs of an operator and which of them
// may be omitted (-1).
type opArity struct {
	minIn, maxIn int
	optional     []int // input positions that may be -1
}

var arities = map[Opcode]opArity{
	OpAdd:                   {2, 2, nil},
	OpMul:                   {2, 2, nil},
	OpAveragePool2D:         {1, 1, nil},
	OpMaxPool2D:             {1, 1, nil},
	OpConv2D:                {2, 3, []int{2}},
	OpDepthwiseConv2D:       {2, 3, []int{2}},
	OpFullyConnected:        {2, 3, []int{2}},
	OpDequantize:            {1, 1, nil},
	OpQuantize:              {1, 1, nil},
	OpLogistic:              {1, 1, nil},
	OpHardSwish:             {1, 1, nil},
	OpSoftmax:               {1, 1, nil},
	OpReshape:               {1, 2, nil},
	OpPad:                   {2, 2, nil},
	OpTranspose:             {2, 2, nil},
	OpMean:                  {2, 2, nil},
	OpConcatenation:         {1, maxConcatInputs, nil},
	OpResizeBilinear:        {2, 2, nil},
	OpResizeNearestNeighbor: {2, 2, nil},
	OpSub:                   {2, 2, nil},
	OpMaximum:               {2, 2, nil},
	OpMinimum:               {2, 2, nil},
	OpSqueeze:               {1, 1, nil},
	OpStridedSlice:          {4, 4, nil},
	OpTransposeConv:         {3, 4, []int{3}},
}

// maxConcatInputs bounds CONCATENATION's inputs (TFLite has no limit; no
// real model comes near it).
const maxConcatInputs = 1 << 12

// Validate checks the model's structure, so that runtimes and tools can
// index it without further checks: tensor types and shapes (non-negative
// dims, no overflowing sizes), constant data sizes, quantization parameter
// lengths, graph input/output indices, and for every operator its input and
// output indices and that every input is a constant, a variable, a graph
// input or an earlier operator's output. Operators edgenas models (see
// Opcode.Supported) are checked strictly: input and output counts, options
// type and values, the ranks their semantics need. Every subgraph and
// signature is checked the same way.
func (m *Model) Validate() error {
	if m == nil {
		return errors.New("nil model")
	}
	if m.Version != 0 && m.Version != SchemaVersion {
		return fmt.Errorf("schema version %d, want %d", m.Version, SchemaVersion)
	}
	if err := validateGraph(m.Tensors, m.Operators, m.Inputs, m.Outputs); err != nil {
		return err
	}
	for i := range m.Subgraphs {
		sg := &m.Subgraphs[i]
		if err := validateGraph(sg.Tensors, sg.Operators, sg.Inputs, sg.Outputs); err != nil {
			return fmt.Errorf("subgraph %d (%q): %w", i+1, sg.Name, err)
		}
	}
	for i, sig := range m.Signatures {
		if err := m.validateSignature(&sig); err != nil {
			return fmt.Errorf("signature %d (%q): %w", i, sig.Key, err)
		}
	}
	return nil
}

func (m *Model) validateSignature(sig *Signature) error {
	if sig.Subgraph < 0 || sig.Subgraph > len(m.Subgraphs) {
		return fmt.Errorf("subgraph index %d out of range (%d subgraphs)", sig.Subgraph, len(m.Subgraphs)+1)
	}
	n := len(m.Tensors)
	if sig.Subgraph > 0 {
		n = len(m.Subgraphs[sig.Subgraph-1].Tensors)
	}
	for _, ts := range [][]SignatureTensor{sig.Inputs, sig.Outputs} {
		for _, t := range ts {
			if t.Tensor < 0 || t.Tensor >= n {
				return fmt.Errorf("%q: tensor index %d out of range (%d tensors)", t.Name, t.Tensor, n)
			}
		}
	}
	return nil
}

// validateGraph checks one subgraph (see Validate).
func validateGraph(tensors []Tensor, ops []Operator, inputs, outputs []int) error {
	m := &Model{Tensors: tensors, Operators: ops, Inputs: inputs, Outputs: outputs}
	if len(m.Tensors) > math.MaxInt32 {
		return fmt.Errorf("%d tensors: too many", len(m.Tensors))
	}
	for i := range m.Tensors {
		if err := m.Tensors[i].validate(); err != nil {
			return fmt.Errorf("tensor %d (%q): %w", i, m.Tensors[i].Name, err)
		}
	}
	// produced[i]: tensor i holds a value before the current operator runs.
	produced := make([]bool, len(m.Tensors))
	for i, t := range m.Inputs {
		if t < 0 || t >= len(m.Tensors) {
			return fmt.Errorf("graph input %d: tensor index %d out of range (%d tensors)", i, t, len(m.Tensors))
		}
		if m.Tensors[t].IsConst() {
			return fmt.Errorf("graph input %d: tensor %d is constant", i, t)
		}
		produced[t] = true
	}
	for i := range m.Tensors {
		if m.Tensors[i].IsConst() || m.Tensors[i].Variable {
			produced[i] = true
		}
	}
	for i := range m.Operators {
		if err := m.validateOperator(&m.Operators[i], produced); err != nil {
			return fmt.Errorf("operator %d (%v): %w", i, m.Operators[i].Name(), err)
		}
	}
	for i, t := range m.Outputs {
		if t < 0 || t >= len(m.Tensors) {
			return fmt.Errorf("graph output %d: tensor index %d out of range (%d tensors)", i, t, len(m.Tensors))
		}
		if !produced[t] {
			return fmt.Errorf("graph output %d: tensor %d is never computed", i, t)
		}
	}
	return nil
}

func (t *Tensor) validate() error {
	if !t.Type.Known() {
		return fmt.Errorf("tensor type %d is not in the schema", int8(t.Type))
	}
	n := int64(1)
	for i, dim := range t.Shape {
		if dim < 0 {
			return fmt.Errorf("dimension %d is %d", i, dim)
		}
		if dim != 0 && n > maxElements/int64(dim) {
			return fmt.Errorf("shape %v has more than %d elements", t.Shape, maxElements)
		}
		n *= int64(dim)
	}
	// Sparse data is compressed; strings and resources have no fixed size.
	if want := t.Type.dataBytes(n); t.Data != nil && !t.Sparse && want >= 0 && int64(len(t.Data)) != want {
		return fmt.Errorf("constant data is %d bytes, shape %v of %v needs %d", len(t.Data), t.Shape, t.Type, want)
	}
	if t.Quant != nil {
		if err := t.Quant.validate(t); err != nil {
			return fmt.Errorf("quantization: %w", err)
		}
	}
	return nil
}

func (q *Quantization) validate(t *Tensor) error {
	if len(q.Scale) != len(q.ZeroPoint) {
		return fmt.Errorf("%d scales but %d zero points", len(q.Scale), len(q.ZeroPoint))
	}
	if len(q.Min) != len(q.Max) {
		return fmt.Errorf("%d min values but %d max values", len(q.Min), len(q.Max))
	}
	if n := len(q.Scale); n > 1 {
		// Per-channel parameters need a dimension of the same size. A single
		// scale is per-tensor whatever Axis says. TOCO gives 1-D per-channel
		// biases the filter's axis 3 (person_detect.tflite), which TFLite
		// accepts: an axis past a 1-D shape means its only dimension.
		if q.Axis < 0 || (int(q.Axis) >= len(t.Shape) && len(t.Shape) != 1) {
			return fmt.Errorf("%d scales along dimension %d of a rank-%d tensor", n, q.Axis, len(t.Shape))
		}
		if int(q.Axis) >= len(t.Shape) {
			if int(t.Shape[0]) != n {
				return fmt.Errorf("%d scales for a 1-D tensor of %d elements (axis %d)", n, t.Shape[0], q.Axis)
			}
		} else if int(t.Shape[q.Axis]) != n {
			return fmt.Errorf("%d scales along dimension %d of size %d", n, q.Axis, t.Shape[q.Axis])
		}
	}
	for i, s := range q.Scale {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) || s < 0 {
			return fmt.Errorf("scale %d is %v", i, s)
		}
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch t.Type {
	case Int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case Uint8:
		lo, hi = 0, math.MaxUint8
	case Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	}
	for i, z := range q.ZeroPoint {
		if z < lo || z > hi {
			return fmt.Errorf("zero point %d is %d, outside %v's range", i, z, t.Type)
		}
	}
	return nil
}

func (m *Model) validateOperator(op *Operator, produced []bool) error {
	ar, strict := arities[op.Op]
	strict = strict && op.Undecoded == "" && op.CustomCode == ""
	if strict {
		if n := len(op.Inputs); n < ar.minIn || n > ar.maxIn {
			if ar.minIn == ar.maxIn {
				return fmt.Errorf("%d inputs, want %d", n, ar.minIn)
			}
			return fmt.Errorf("%d inputs, want %d to %d", n, ar.minIn, ar.maxIn)
		}
		if len(op.Outputs) != 1 {
			return fmt.Errorf("%d outputs, want 1", len(op.Outputs))
		}
	} else if op.Op == OpCustom && op.CustomCode == "" {
		return errors.New("custom operator without a custom code")
	}
	for i, t := range op.Inputs {
		// Operators edgenas does not model may omit any input, as TFLite
		// allows (LSTM's peephole and projection weights).
		if t == -1 && (!strict || contains(ar.optional, i)) {
			continue
		}
		if t < 0 || t >= len(m.Tensors) {
			return fmt.Errorf("input %d: tensor index %d out of range (%d tensors)", i, t, len(m.Tensors))
		}
		if !produced[t] {
			return fmt.Errorf("input %d: tensor %d (%q) is not computed before use", i, t, m.Tensors[t].Name)
		}
	}
	for i, t := range op.Outputs {
		if t == -1 && !strict {
			continue
		}
		if t < 0 || t >= len(m.Tensors) {
			return fmt.Errorf("output %d: tensor index %d out of range (%d tensors)", i, t, len(m.Tensors))
		}
		if produced[t] && !m.Tensors[t].Variable {
			return fmt.Errorf("output %d: tensor %d (%q) is already a constant, graph input or earlier output", i, t, m.Tensors[t].Name)
		}
		produced[t] = true
	}
	if !strict {
		return nil
	}
	if err := validateOptions(op); err != nil {
		return err
	}
	return m.validateShapes(op)
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func validateOptions(op *Operator) error {
	if !hasOptionsStruct(op.Op) {
		if op.Options != nil {
			return fmt.Errorf("options of type %T, want none", op.Options)
		}
		return nil
	}
	bad := func() error { return fmt.Errorf("options of type %T do not match the operator", op.Options) }
	switch op.Op {
	case OpConv2D:
		o, ok := op.Options.(*Conv2DOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkWindow(o.Padding, o.Activation, o.StrideW, o.StrideH, o.DilationW, o.DilationH)
	case OpDepthwiseConv2D:
		o, ok := op.Options.(*DepthwiseConv2DOptions)
		if !ok || o == nil {
			return bad()
		}
		if o.DepthMultiplier < 1 {
			return fmt.Errorf("depth multiplier %d", o.DepthMultiplier)
		}
		return checkWindow(o.Padding, o.Activation, o.StrideW, o.StrideH, o.DilationW, o.DilationH)
	case OpAveragePool2D, OpMaxPool2D:
		o, ok := op.Options.(*Pool2DOptions)
		if !ok || o == nil {
			return bad()
		}
		if o.FilterWidth < 1 || o.FilterHeight < 1 {
			return fmt.Errorf("filter %dx%d", o.FilterWidth, o.FilterHeight)
		}
		return checkWindow(o.Padding, o.Activation, o.StrideW, o.StrideH, 1, 1)
	case OpFullyConnected:
		o, ok := op.Options.(*FullyConnectedOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkActivation(o.Activation)
	case OpAdd:
		o, ok := op.Options.(*AddOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkActivation(o.Activation)
	case OpMul:
		o, ok := op.Options.(*MulOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkActivation(o.Activation)
	case OpSoftmax:
		o, ok := op.Options.(*SoftmaxOptions)
		if !ok || o == nil {
			return bad()
		}
		if math.IsNaN(float64(o.Beta)) || math.IsInf(float64(o.Beta), 0) {
			return fmt.Errorf("softmax beta %v", o.Beta)
		}
	case OpReshape:
		if o, ok := op.Options.(*ReshapeOptions); !ok || o == nil {
			return bad()
		}
	case OpTranspose:
		if o, ok := op.Options.(*TransposeOptions); !ok || o == nil {
			return bad()
		}
	case OpMean:
		if o, ok := op.Options.(*ReducerOptions); !ok || o == nil {
			return bad()
		}
	default:
		return validateMoreOptions(op, bad)
	}
	return nil
}

func checkWindow(p Padding, a Activation, sw, sh, dw, dh int32) error {
	if p != PaddingSame && p != PaddingValid {
		return fmt.Errorf("padding %v", p)
	}
	if sw < 1 || sh < 1 {
		return fmt.Errorf("stride %dx%d", sw, sh)
	}
	if dw < 1 || dh < 1 {
		return fmt.Errorf("dilation %dx%d", dw, dh)
	}
	return checkActivation(a)
}

func checkActivation(a Activation) error {
	if a < ActNone || a > ActTanh {
		return fmt.Errorf("fused activation %v", a)
	}
	return nil
}

// validateShapes checks the tensor ranks the operators' semantics need, so
// shape arithmetic (output sizes, MACs) never indexes past a shape.
func (m *Model) validateShapes(op *Operator) error {
	rank := func(pos, want int) error {
		if pos >= len(op.Inputs) || op.Inputs[pos] < 0 {
			return nil
		}
		if r := len(m.Tensors[op.Inputs[pos]].Shape); r != want {
			return fmt.Errorf("input %d has rank %d, want %d", pos, r, want)
		}
		return nil
	}
	switch op.Op {
	case OpConv2D, OpDepthwiseConv2D:
		if err := rank(0, 4); err != nil {
			return err
		}
		if err := rank(1, 4); err != nil {
			return err
		}
		if r := len(m.Tensors[op.Outputs[0]].Shape); r != 4 {
			return fmt.Errorf("output has rank %d, want 4", r)
		}
		return rank(2, 1)
	case OpAveragePool2D, OpMaxPool2D:
		if err := rank(0, 4); err != nil {
			return err
		}
		if r := len(m.Tensors[op.Outputs[0]].Shape); r != 4 {
			return fmt.Errorf("output has rank %d, want 4", r)
		}
	case OpFullyConnected:
		if err := rank(1, 2); err != nil {
			return err
		}
		return rank(2, 1)
	}
	return m.validateMoreShapes(op, rank)
}
