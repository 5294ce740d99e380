package tflite

import (
	"errors"
	"fmt"
)

// validateMoreOptions checks the options of the vision and audio operators
// (CONCATENATION, RESIZE_*, SUB, SQUEEZE, STRIDED_SLICE, TRANSPOSE_CONV);
// bad is the error for options of the wrong type.
func validateMoreOptions(op *Operator, bad func() error) error {
	switch op.Op {
	case OpConcatenation:
		o, ok := op.Options.(*ConcatenationOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkActivation(o.Activation)
	case OpResizeBilinear, OpResizeNearestNeighbor:
		o, ok := op.Options.(*ResizeOptions)
		if !ok || o == nil {
			return bad()
		}
		if o.AlignCorners && o.HalfPixelCenters {
			return errors.New("align_corners and half_pixel_centers are exclusive")
		}
	case OpSub:
		o, ok := op.Options.(*SubOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkActivation(o.Activation)
	case OpSqueeze:
		if o, ok := op.Options.(*SqueezeOptions); !ok || o == nil {
			return bad()
		}
	case OpStridedSlice:
		if o, ok := op.Options.(*StridedSliceOptions); !ok || o == nil {
			return bad()
		}
	case OpTransposeConv:
		o, ok := op.Options.(*TransposeConvOptions)
		if !ok || o == nil {
			return bad()
		}
		return checkWindow(o.Padding, o.Activation, o.StrideW, o.StrideH, 1, 1)
	}
	return nil
}

// validateMoreShapes checks the ranks of the vision and audio operators.
func (m *Model) validateMoreShapes(op *Operator, rank func(pos, want int) error) error {
	switch op.Op {
	case OpResizeBilinear, OpResizeNearestNeighbor:
		if err := rank(0, 4); err != nil {
			return err
		}
		if err := rank(1, 1); err != nil {
			return err
		}
		if r := len(m.Tensors[op.Outputs[0]].Shape); r != 4 {
			return fmt.Errorf("output has rank %d, want 4", r)
		}
	case OpStridedSlice:
		for pos := 1; pos <= 3; pos++ {
			if err := rank(pos, 1); err != nil {
				return err
			}
		}
	case OpTransposeConv:
		for pos, want := range []int{1, 4, 4, 1} {
			if err := rank(pos, want); err != nil {
				return err
			}
		}
		if r := len(m.Tensors[op.Outputs[0]].Shape); r != 4 {
			return fmt.Errorf("output has rank %d, want 4", r)
		}
	}
	return nil
}

// checkWritable reports what of m Write cannot encode: operators edgenas
// does not model (their options were not decoded), custom operators,
// variable or sparse tensors, further subgraphs. Signatures and metadata
// are dropped, as documented on Read.
func (m *Model) checkWritable() error {
	for i := range m.Operators {
		op := &m.Operators[i]
		switch {
		case op.CustomCode != "" || op.Op == OpCustom:
			return fmt.Errorf("operator %d: custom operator %q cannot be written", i, op.CustomCode)
		case !op.Op.Supported():
			return fmt.Errorf("operator %d: %v is not modelled by edgenas and cannot be written", i, op.Op)
		case op.Undecoded != "":
			return fmt.Errorf("operator %d (%v): %s cannot be written", i, op.Op, op.Undecoded)
		}
	}
	for i := range m.Tensors {
		t := &m.Tensors[i]
		if t.Variable || t.Sparse {
			return fmt.Errorf("tensor %d (%q): variable and sparse tensors cannot be written", i, t.Name)
		}
	}
	if len(m.Subgraphs) > 0 {
		return fmt.Errorf("%d subgraphs: only single-subgraph models can be written", len(m.Subgraphs)+1)
	}
	return nil
}
