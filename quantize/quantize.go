package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"edgenas/tflite"
)

// Ranges are calibrated activation ranges, by tensor index of the float
// model they were measured on.
type Ranges map[int]Range

// Options configure Quantize.
type Options struct {
	// FloatIO keeps the graph's input and output float32: a QUANTIZE
	// operator converts the input, a DEQUANTIZE the output (the converter's
	// inference_input_type/inference_output_type float). By default the
	// model's input and output are int8.
	FloatIO bool
}

// Quantize turns a FLOAT32 model into a fully int8 one following TFLite's
// int8 quantization spec, given calibrated ranges of its activations:
//   - activations: int8 per tensor, parameters from the range
//     (ActivationParams); LOGISTIC and SOFTMAX outputs scale 1/256 and zero
//     point -128; RESHAPE, TRANSPOSE, PAD and the 2-D pools share their
//     input's parameters; MEAN, ADD, MUL and the weighted operators take
//     their own calibrated output range (as the converter does);
//   - CONV_2D weights int8 symmetric per output channel (axis 0),
//     DEPTHWISE_CONV_2D per channel along axis 3, FULLY_CONNECTED per
//     tensor; biases int32 with scale input_scale*weight_scale, zero point 0;
//   - integer constants (MEAN axes, shapes) unchanged;
//   - operator versions as op_version.cc gives them for the new types.
//
// Tensor indices are preserved (the float model's ranges and intermediate
// values line up with the quantized model's); Options.FloatIO only appends
// tensors. The float model is not modified.
func Quantize(fm *tflite.Model, ranges Ranges, opts Options) (*tflite.Model, error) {
	if err := fm.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: float model: %w", err)
	}
	m := &tflite.Model{Version: tflite.SchemaVersion, Description: fm.Description, Name: fm.Name,
		Tensors:   make([]tflite.Tensor, len(fm.Tensors)),
		Operators: make([]tflite.Operator, len(fm.Operators)),
		Inputs:    append([]int(nil), fm.Inputs...),
		Outputs:   append([]int(nil), fm.Outputs...),
	}
	for i, t := range fm.Tensors {
		m.Tensors[i] = tflite.Tensor{Name: t.Name, Type: t.Type, Shape: append([]int32(nil), t.Shape...)}
		if t.Data != nil {
			m.Tensors[i].Data = append([]byte{}, t.Data...)
		}
	}
	for i, op := range fm.Operators {
		m.Operators[i] = tflite.Operator{Op: op.Op, Inputs: append([]int(nil), op.Inputs...),
			Outputs: append([]int(nil), op.Outputs...), Options: cloneOptions(op.Options)}
	}
	q := &quantizer{fm: fm, m: m, ranges: ranges, done: make([]bool, len(m.Tensors))}
	for _, t := range m.Inputs {
		if err := q.fromRange(t); err != nil {
			return nil, fmt.Errorf("quantize: graph input: %w", err)
		}
	}
	for i := range m.Operators {
		if err := q.operator(&m.Operators[i]); err != nil {
			return nil, fmt.Errorf("quantize: operator %d (%v): %w", i, m.Operators[i].Op, err)
		}
	}
	for i, t := range m.Tensors {
		if t.Type == tflite.Float32 {
			return nil, fmt.Errorf("quantize: tensor %d (%q) stays float32: no int8 rule covers it", i, t.Name)
		}
	}
	setVersions(m)
	if opts.FloatIO {
		addFloatIO(m)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: quantized model: %w", err)
	}
	return m, nil
}

type quantizer struct {
	fm, m  *tflite.Model
	ranges Ranges
	done   []bool // tensor already quantized
}

func (q *quantizer) name(t int) string { return fmt.Sprintf("tensor %d (%q)", t, q.m.Tensors[t].Name) }

// setAct makes activation tensor t int8 with the given parameters.
func (q *quantizer) setAct(t int, scale float32, zp int64) error {
	tt := &q.m.Tensors[t]
	if q.done[t] {
		return fmt.Errorf("%s is produced twice", q.name(t))
	}
	if tt.Type != tflite.Float32 || tt.IsConst() {
		return fmt.Errorf("%s is %v%s, want a float32 activation", q.name(t), tt.Type, constWord(tt))
	}
	tt.Type = tflite.Int8
	tt.Quant = &tflite.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
	q.done[t] = true
	return nil
}

func constWord(t *tflite.Tensor) string {
	if t.IsConst() {
		return " constant"
	}
	return ""
}

func (q *quantizer) fromRange(t int) error {
	r, ok := q.ranges[t]
	if !ok {
		return fmt.Errorf("%s has no calibrated range", q.name(t))
	}
	s, zp, err := ActivationParams(r)
	if err != nil {
		return fmt.Errorf("%s: %w", q.name(t), err)
	}
	return q.setAct(t, s, zp)
}

// actIn checks that input k of op is an already quantized activation and
// returns its scale.
func (q *quantizer) actIn(op *tflite.Operator, k int) (float32, error) {
	t := op.Inputs[k]
	tt := &q.m.Tensors[t]
	if tt.IsConst() {
		return 0, fmt.Errorf("input %d: constant %s as an activation operand is not supported", k, q.name(t))
	}
	if !q.done[t] || tt.Type != tflite.Int8 {
		return 0, fmt.Errorf("input %d: %s is not an int8 activation", k, q.name(t))
	}
	return tt.Quant.Scale[0], nil
}

// intConst checks that input k is an integer constant (axes, shape, paddings).
func (q *quantizer) intConst(op *tflite.Operator, k int) error {
	t := op.Inputs[k]
	tt := &q.m.Tensors[t]
	if !tt.IsConst() || (tt.Type != tflite.Int32 && tt.Type != tflite.Int64) {
		return fmt.Errorf("input %d: %s is %v%s, want an integer constant", k, q.name(t), tt.Type, constWord(tt))
	}
	return nil
}

func (q *quantizer) operator(op *tflite.Operator) error {
	out := op.Outputs[0]
	switch op.Op {
	case tflite.OpConv2D, tflite.OpDepthwiseConv2D, tflite.OpFullyConnected:
		inScale, err := q.actIn(op, 0)
		if err != nil {
			return err
		}
		if err := q.weighted(op, inScale); err != nil {
			return err
		}
		return q.fromRange(out)
	case tflite.OpAdd, tflite.OpMul:
		for k := range op.Inputs {
			if _, err := q.actIn(op, k); err != nil {
				return err
			}
		}
		return q.fromRange(out)
	case tflite.OpMean:
		if _, err := q.actIn(op, 0); err != nil {
			return err
		}
		if err := q.intConst(op, 1); err != nil {
			return err
		}
		return q.fromRange(out)
	case tflite.OpHardSwish:
		if _, err := q.actIn(op, 0); err != nil {
			return err
		}
		return q.fromRange(out)
	case tflite.OpLogistic, tflite.OpSoftmax:
		if _, err := q.actIn(op, 0); err != nil {
			return err
		}
		return q.setAct(out, 1.0/256, -128)
	case tflite.OpReshape, tflite.OpTranspose, tflite.OpPad, tflite.OpAveragePool2D, tflite.OpMaxPool2D:
		if _, err := q.actIn(op, 0); err != nil {
			return err
		}
		for k := 1; k < len(op.Inputs); k++ {
			if err := q.intConst(op, k); err != nil {
				return err
			}
		}
		in := q.m.Tensors[op.Inputs[0]].Quant
		return q.setAct(out, in.Scale[0], in.ZeroPoint[0])
	}
	return fmt.Errorf("no int8 quantization rule for %v", op.Op)
}

// weighted quantizes the filter (input 1) and bias (input 2) of a CONV_2D,
// DEPTHWISE_CONV_2D or FULLY_CONNECTED.
func (q *quantizer) weighted(op *tflite.Operator, inScale float32) error {
	wt := op.Inputs[1]
	w := &q.m.Tensors[wt]
	if !w.IsConst() || w.Type != tflite.Float32 {
		return fmt.Errorf("filter %s is %v%s, want float32 constant weights", q.name(wt), w.Type, constWord(w))
	}
	var wScales []float32
	if q.done[wt] {
		// Shared weights were quantized by an earlier operator.
		wScales = w.Quant.Scale
	} else {
		vals := float32s(w.Data)
		var qv []int8
		var axis int32
		switch op.Op {
		case tflite.OpConv2D:
			per := len(vals) / int(w.Shape[0])
			qv, wScales = quantizeSymmetric(vals, int(w.Shape[0]), func(i int) int { return i / per })
		case tflite.OpDepthwiseConv2D:
			c := int(w.Shape[3])
			axis = 3
			qv, wScales = quantizeSymmetric(vals, c, func(i int) int { return i % c })
		default:
			qv, wScales = quantizeSymmetric(vals, 1, func(int) int { return 0 })
		}
		w.Type = tflite.Int8
		w.Data = int8Bytes(qv)
		w.Quant = &tflite.Quantization{Scale: wScales, ZeroPoint: make([]int64, len(wScales)), Axis: axis}
		q.done[wt] = true
	}
	if len(op.Inputs) < 3 || op.Inputs[2] < 0 {
		return nil
	}
	bt := op.Inputs[2]
	b := &q.m.Tensors[bt]
	if q.done[bt] {
		return fmt.Errorf("bias %s is shared by several operators", q.name(bt))
	}
	if !b.IsConst() || b.Type != tflite.Float32 {
		return fmt.Errorf("bias %s is %v%s, want float32 constant", q.name(bt), b.Type, constWord(b))
	}
	bv := float32s(b.Data)
	if len(wScales) > 1 && len(wScales) != len(bv) {
		return fmt.Errorf("bias %s has %d values for %d weight channels", q.name(bt), len(bv), len(wScales))
	}
	qb, bScales, err := quantizeBias(bv, inScale, wScales)
	if err != nil {
		return fmt.Errorf("bias %s: %w", q.name(bt), err)
	}
	b.Type = tflite.Int32
	b.Data = int32Bytes(qb)
	if len(wScales) == 1 {
		bScales = bScales[:1]
	}
	b.Quant = &tflite.Quantization{Scale: bScales, ZeroPoint: make([]int64, len(bScales))}
	q.done[bt] = true
	return nil
}

func float32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func int8Bytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// addFloatIO gives the graph float32 input and output: the int8 input
// becomes an inner tensor fed by a leading QUANTIZE, and each int8 output
// is read through a trailing DEQUANTIZE into a new float32 output.
func addFloatIO(m *tflite.Model) {
	var pre []tflite.Operator
	for _, t := range m.Inputs {
		qt := m.Tensors[t]
		qt.Name = qt.Name + "/int8"
		m.Tensors = append(m.Tensors, qt)
		nt := len(m.Tensors) - 1
		for i := range m.Operators {
			for j, in := range m.Operators[i].Inputs {
				if in == t {
					m.Operators[i].Inputs[j] = nt
				}
			}
		}
		m.Tensors[t].Type = tflite.Float32
		m.Tensors[t].Quant = nil
		pre = append(pre, tflite.Operator{Op: tflite.OpQuantize, Inputs: []int{t}, Outputs: []int{nt}})
		for j, o := range m.Outputs {
			if o == t {
				m.Outputs[j] = nt // an identity graph: its output is the quantized input
			}
		}
	}
	m.Operators = append(pre, m.Operators...)
	for j, t := range m.Outputs {
		ft := tflite.Tensor{Name: m.Tensors[t].Name + "/float", Type: tflite.Float32, Shape: append([]int32(nil), m.Tensors[t].Shape...)}
		m.Tensors = append(m.Tensors, ft)
		nt := len(m.Tensors) - 1
		m.Operators = append(m.Operators, tflite.Operator{Op: tflite.OpDequantize, Inputs: []int{t}, Outputs: []int{nt}})
		m.Outputs[j] = nt
	}
	setVersions(m)
}

// cloneOptions copies an operator's options so the two models share no
// mutable state.
func cloneOptions(o any) any {
	switch v := o.(type) {
	case *tflite.Conv2DOptions:
		c := *v
		return &c
	case *tflite.DepthwiseConv2DOptions:
		c := *v
		return &c
	case *tflite.Pool2DOptions:
		c := *v
		return &c
	case *tflite.AddOptions:
		c := *v
		return &c
	case *tflite.MulOptions:
		c := *v
		return &c
	case *tflite.FullyConnectedOptions:
		c := *v
		return &c
	case *tflite.ReducerOptions:
		c := *v
		return &c
	case *tflite.ReshapeOptions:
		c := *v
		c.NewShape = append([]int32(nil), v.NewShape...)
		return &c
	case *tflite.SoftmaxOptions:
		c := *v
		return &c
	case *tflite.TransposeOptions:
		c := *v
		return &c
	}
	return o
}
