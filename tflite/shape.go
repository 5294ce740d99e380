package tflite

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
