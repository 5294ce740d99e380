package runtimetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// RandomInputs returns seeded random bytes for every graph input of m:
// int8 inputs uniform over the whole int8 range, float32 inputs uniform over
// the range of the QUANTIZE that consumes them (or [-1, 1]).
func RandomInputs(m *tflite.Model, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x1a9e7))
	out := make([][]byte, len(m.Inputs))
	for i, ti := range m.Inputs {
		t := &m.Tensors[ti]
		b := make([]byte, t.Bytes())
		switch t.Type {
		case tflite.Float32:
			lo, hi := -1.0, 1.0
			for _, o := range m.Operators {
				if o.Op == tflite.OpQuantize && o.Inputs[0] == ti {
					if q := m.Tensors[o.Outputs[0]].Quant; q != nil && len(q.Scale) == 1 {
						qq := Quant{Scale: q.Scale[0], ZeroPoint: int8(q.ZeroPoint[0])}
						lo, hi = qq.lo(), qq.hi()
					}
				}
			}
			for j := 0; j+4 <= len(b); j += 4 {
				binary.LittleEndian.PutUint32(b[j:], math.Float32bits(float32(lo+(hi-lo)*rng.Float64())))
			}
		default:
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
		}
		out[i] = b
	}
	return out
}

// TensorError is how far one int8 tensor is from its float reference.
type TensorError struct {
	Tensor int
	Name   string
	// MaxQuanta is max |dequantized int8 - float| / scale. For a float
	// tensor computed by DEQUANTIZE the scale is that of its int8 input;
	// for other float tensors it is 1 (absolute error).
	MaxQuanta float64
	// Worst is the flat index of the element with the largest error.
	Worst int
	Scale float32
}

func (e TensorError) String() string {
	return fmt.Sprintf("tensor %d (%s): max error %.3f quanta of %g at element %d", e.Tensor, e.Name, e.MaxQuanta, e.Scale, e.Worst)
}

// Compare runs the model loaded in it on inputs (raw bytes per graph input),
// runs DequantizedModel of the same model on the reference backend's float
// path with the dequantized inputs, and reports, for each graph output, the
// largest difference in quanta of the output scale. Errors of the int8
// kernels accumulate through the graph; see ComparePerOp for per-operator
// errors.
func Compare(it runtime.Interpreter, inputs [][]byte) ([]TensorError, error) {
	m := it.Model()
	got, err := Run(it, inputs)
	if err != nil {
		return nil, err
	}
	fm := DequantizedModel(m)
	fit, err := ref.Backend{}.Load(fm, runtime.Options{})
	if err != nil {
		return nil, fmt.Errorf("float reference: %w", err)
	}
	defer fit.Close()
	want, err := Run(fit, floatInputs(m, inputs))
	if err != nil {
		return nil, fmt.Errorf("float reference: %w", err)
	}
	out := make([]TensorError, len(m.Outputs))
	for i, t := range m.Outputs {
		out[i] = tensorError(m, t, got[i], want[i])
	}
	return out, nil
}

// Run sets every input of it, invokes it once and returns its outputs.
func Run(it runtime.Interpreter, inputs [][]byte) ([][]byte, error) {
	m := it.Model()
	if len(inputs) != len(m.Inputs) {
		return nil, fmt.Errorf("%d inputs given, model has %d", len(inputs), len(m.Inputs))
	}
	for i, b := range inputs {
		if err := it.SetInput(i, b); err != nil {
			return nil, err
		}
	}
	if err := it.Invoke(); err != nil {
		return nil, err
	}
	outs := make([][]byte, len(m.Outputs))
	for i := range outs {
		outs[i] = it.Output(i)
	}
	return outs, nil
}

// floatInputs dequantizes int8 inputs and passes float inputs through.
func floatInputs(m *tflite.Model, inputs [][]byte) [][]byte {
	out := make([][]byte, len(inputs))
	for i, b := range inputs {
		out[i] = toFloatBytes(&m.Tensors[m.Inputs[i]], b)
	}
	return out
}

func toFloatBytes(t *tflite.Tensor, b []byte) []byte {
	if t.Type != tflite.Int8 {
		return b
	}
	s, z := float64(t.Quant.Scale[0]), int64(t.Quant.ZeroPoint[0])
	out := make([]byte, 4*len(b))
	for j, v := range b {
		binary.LittleEndian.PutUint32(out[4*j:], math.Float32bits(float32(s*float64(int64(int8(v))-z))))
	}
	return out
}

// gridOf returns the int8 grid a tensor's values come from: its own, or for
// the float output of a DEQUANTIZE, that of its input. ok is false for
// other float tensors.
func gridOf(m *tflite.Model, t int) (q Quant, ok bool) {
	if tt := &m.Tensors[t]; tt.Type == tflite.Int8 && tt.Quant != nil && len(tt.Quant.Scale) == 1 {
		return Quant{Scale: tt.Quant.Scale[0], ZeroPoint: int8(tt.Quant.ZeroPoint[0])}, true
	}
	for _, o := range m.Operators {
		if o.Op == tflite.OpDequantize && o.Outputs[0] == t {
			return gridOf(m, o.Inputs[0])
		}
	}
	return Quant{}, false
}

func tensorError(m *tflite.Model, t int, got, want []byte) TensorError {
	e := TensorError{Tensor: t, Name: m.Tensors[t].Name, Scale: 1}
	g := toFloatBytes(&m.Tensors[t], got)
	// An int8 result cannot leave its grid: compare with the float value
	// saturated to the representable range.
	lo, hi := math.Inf(-1), math.Inf(1)
	if q, ok := gridOf(m, t); ok {
		e.Scale = q.Scale
		lo, hi = q.lo(), q.hi()
	}
	for j := 0; j+4 <= len(g) && j+4 <= len(want); j += 4 {
		a := math.Float32frombits(binary.LittleEndian.Uint32(g[j:]))
		b := math.Float32frombits(binary.LittleEndian.Uint32(want[j:]))
		d := math.Abs(float64(a)-math.Min(math.Max(float64(b), lo), hi)) / float64(e.Scale)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > e.MaxQuanta {
			e.MaxQuanta, e.Worst = d, j/4
		}
	}
	return e
}

// OpError is one operator's error against the float reference when both
// see the same inputs.
type OpError struct {
	Op   int
	Name string
	TensorError
}

// ComparePerOp loads m on backend b with every operator output made a graph
// output, runs it on inputs, and then re-runs each operator alone in float
// (the reference backend's kernel for DequantizedModel(m)) on the
// dequantized values the backend actually fed it. Each result is that
// operator's own error, free of what earlier operators contributed.
func ComparePerOp(b runtime.Backend, m *tflite.Model, inputs [][]byte) ([]OpError, error) {
	all := *m
	all.Outputs = nil
	for _, o := range m.Operators {
		all.Outputs = append(all.Outputs, o.Outputs[0])
	}
	it, err := b.Load(&all, runtime.Options{})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	outs, err := Run(it, inputs)
	if err != nil {
		return nil, err
	}
	values := make(map[int][]byte) // tensor -> float32 bytes the backend computed
	raw := make(map[int][]byte)
	for i, t := range m.Inputs {
		values[t] = toFloatBytes(&m.Tensors[t], inputs[i])
	}
	for i, t := range all.Outputs {
		raw[t] = outs[i]
		values[t] = toFloatBytes(&m.Tensors[t], outs[i])
	}
	fm := DequantizedModel(m)
	var res []OpError
	for i, o := range fm.Operators {
		k, err := ref.NewKernel(fm, i)
		if err != nil {
			return nil, fmt.Errorf("float reference: %w", err)
		}
		bufs := make([][]byte, len(fm.Tensors))
		for _, t := range o.Inputs {
			if t < 0 {
				continue
			}
			if fm.Tensors[t].IsConst() {
				bufs[t] = alignedCopy(fm.Tensors[t].Data)
			} else if v, ok := values[t]; ok {
				bufs[t] = alignedCopy(v)
			} else {
				return nil, fmt.Errorf("operator %d: input tensor %d has no value", i, t)
			}
		}
		out := o.Outputs[0]
		bufs[out] = alignedCopy(make([]byte, fm.Tensors[out].Bytes()))
		if err := k.Eval(bufs); err != nil {
			return nil, fmt.Errorf("float reference: operator %d: %w", i, err)
		}
		if raw[out] == nil {
			return nil, errors.New("backend did not return an operator output")
		}
		res = append(res, OpError{Op: i, Name: m.Operators[i].Op.String(), TensorError: tensorError(m, out, raw[out], bufs[out])})
	}
	return res, nil
}

// alignedCopy copies b into 4-byte aligned memory for float32 views.
func alignedCopy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	w := make([]float32, (len(b)+3)/4)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(b))
	copy(out, b)
	return out
}
