package tflite

import "fmt"

// ConvOutputSize is the output length along one spatial dimension of a
// convolution or pooling window, as TFLite computes it (kernels/padding.h):
// SAME gives ceil(in/stride), VALID ceil((in-effective+1)/stride) where the
// effective filter is (filter-1)*dilation+1. A stride below 1, a dilation
// below 1 or a window larger than the input under VALID give 0.
func ConvOutputSize(in, filter, stride, dilation int, pad Padding) int {
	if stride < 1 || dilation < 1 || filter < 1 || in < 0 {
		return 0
	}
	eff := (filter-1)*dilation + 1
	var out int
	switch pad {
	case PaddingSame:
		out = (in + stride - 1) / stride
	case PaddingValid:
		if in < eff {
			return 0
		}
		out = (in - eff + stride) / stride
	}
	return out
}

// ComputePadding is the implicit zero padding TFLite applies before and after
// the input along one spatial dimension. VALID pads nothing; SAME pads the
// total (out-1)*stride+effective-in, the odd element going after the input,
// exactly as TFLite's ComputePaddingWithOffset.
func ComputePadding(in, filter, stride, dilation int, pad Padding) (before, after int) {
	if pad != PaddingSame || stride < 1 || dilation < 1 || filter < 1 {
		return 0, 0
	}
	out := ConvOutputSize(in, filter, stride, dilation, pad)
	eff := (filter-1)*dilation + 1
	total := (out-1)*stride + eff - in
	if total <= 0 {
		return 0, 0
	}
	return total / 2, total - total/2
}

// SqueezedShape is the output shape of a SQUEEZE of shape in: without the
// listed dimensions (negative ones count from the end), each of which must
// have size 1, or without every size-1 dimension when dims is empty.
func SqueezedShape(in, dims []int32) ([]int32, error) {
	drop := make([]bool, len(in))
	for _, d := range dims {
		if d < 0 {
			d += int32(len(in))
		}
		if d < 0 || int(d) >= len(in) || in[d] != 1 {
			return nil, fmt.Errorf("squeeze dimension %d of shape %v", d, in)
		}
		drop[d] = true
	}
	out := []int32{}
	for i, n := range in {
		if !drop[i] && (len(dims) > 0 || n != 1) {
			out = append(out, n)
		}
	}
	return out, nil
}
