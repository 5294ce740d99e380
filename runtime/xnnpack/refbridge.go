package xnnpack

import (
	"fmt"

	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// refKernel is one operator run by the reference kernels on the tensor
// arena (bufs[i] is tensor i's bytes).
type refKernel = ref.Kernel

// newRefKernel builds the kernel for operator op that runs outside XNNPACK:
// the reference kernel, or for an int8 MEAN over H and W and an int8
// per-channel TRANSPOSE_CONV the delegate's arithmetic; its error names
// the operator and what the reference kernels do not support. Constant
// operands are checked against their shapes first: the reference kernels
// read weights straight from the model.
func newRefKernel(m *tflite.Model, op int) (refKernel, error) {
	if op < 0 || op >= len(m.Operators) {
		return nil, fmt.Errorf("operator %d out of range", op)
	}
	for _, t := range m.Operators[op].Inputs {
		if t < 0 || t >= len(m.Tensors) {
			continue // ref reports bad indices itself
		}
		if err := constSize(&m.Tensors[t]); err != nil {
			return nil, fmt.Errorf("operator %d (%v): %w", op, m.Operators[op].Op, err)
		}
	}
	// An int8 MEAN XNNPACK refused for its rounding, and an int8
	// TRANSPOSE_CONV with a per-channel filter this XNNPACK cannot run,
	// follow TFLite's XNNPACK delegate, not the reference kernel (mean.go,
	// deconv.go).
	if k, ok := newMeanKernel(m, &m.Operators[op]); ok {
		return k, nil
	}
	if k, ok := newDeconvKernel(m, &m.Operators[op]); ok {
		return k, nil
	}
	return ref.NewKernel(m, op)
}

// constSize checks a constant tensor holds exactly the bytes its shape needs.
func constSize(t *tflite.Tensor) error {
	if t.IsConst() && len(t.Data) != t.Bytes() {
		return fmt.Errorf("tensor %q: %d data bytes, shape %v of %v needs %d", t.Name, len(t.Data), t.Shape, t.Type, t.Bytes())
	}
	return nil
}
