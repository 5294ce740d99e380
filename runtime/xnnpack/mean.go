package xnnpack

import (
	"fmt"
	"math"
	goruntime "runtime"

	"edgenas/tflite"
)

// int8 MEAN over H and W, as TFLite's XNNPACK delegate computes it today.
//
// Debian's XNNPACK (2022) has no mean node; edgenas defines the operator as
// global average pooling, which adds -n*zi to the int32 sum and scales it
// once: round(float(sum - n*zi) * fl(si / fl(so*n))) + zo. The delegate in
// LiteRT hands MEAN to newer XNNPACK's reduce operator, whose qs8 mean folds
// the zero points into an fp32 bias and scales by a product instead of a
// quotient: round(fl(float(sum) * S) + B) with S = fl(fl(si/so) * fl(1/n))
// and B = fl(zo - fl(float(n*zi) * S)), rounding half to even. The two
// agree except where a value lands within an fp32 rounding of a half-quantum
// tie, which with H*W even and equal input and output scales is common. No
// single Debian XNNPACK node computes the fp32 bias form, so where the two
// formulas differ on any possible sum the operator runs on meanKernel below
// instead (a node between XNNPACK partitions, summing in C: on 7x7x576 about
// 3 us against global average pooling's 1 us), and where they agree on every
// sum it stays on XNNPACK. The formula was matched against LiteRT
// (@litertjs/core 2.5.3) element by element on 2277 outputs of 120 seeded
// MEAN cases, 28 of them with differing scales: no difference.

// gavgpoolFP32 says this build's XNNPACK runs int8 global average pooling
// with the fp32 kernels gavgpool() models (checked against the library on
// x86: no difference in 2277 outputs). Its ARM builds use fixed-point
// "rndnu" kernels instead (XNNPACK's init.c), which gavgpool() does not
// model, so there every int8 MEAN over H and W takes the delegate's
// arithmetic.
const gavgpoolFP32 = goruntime.GOARCH == "amd64" || goruntime.GOARCH == "386"

// meanParams are the quantization parameters of an int8 MEAN over H and W.
type meanParams struct {
	si, so float32
	zi, zo int32
	n      int // H*W, the elements averaged per output
}

// maxExhaustiveSums bounds the sums checked one by one (255 per averaged
// element): beyond it float(sum) is no longer exact in fp32 either.
const maxExhaustiveSums = 1 << 24

// delegateMeanParams returns the parameters of operator op when it is an
// int8 MEAN over H and W of a 4-D input, else ok false.
func delegateMeanParams(m *tflite.Model, op *tflite.Operator) (p meanParams, ok bool) {
	if op.Op != tflite.OpMean || len(op.Outputs) != 1 || meanOverHW(m, op) != nil {
		return p, false
	}
	in, out := &m.Tensors[op.Inputs[0]], &m.Tensors[op.Outputs[0]]
	si, zi, err := perTensorInt8(in)
	if err != nil {
		return p, false
	}
	so, zo, err := perTensorInt8(out)
	if err != nil {
		return p, false
	}
	n := int(in.Shape[1]) * int(in.Shape[2])
	if n <= 0 || n*255 > maxExhaustiveSums || out.NumElements() != int(in.Shape[0]*in.Shape[3]) {
		return p, false
	}
	return meanParams{si: si, so: so, zi: zi, zo: zo, n: n}, true
}

// scale and bias are the delegate's fp32 multiplier and bias.
func (p meanParams) scaleBias() (float32, float32) {
	s := float32(p.si/p.so) * float32(1/float32(p.n))
	return s, float32(p.zo) - float32(float32(p.n)*float32(p.zi)*s)
}

// delegate is the delegate's output for an int32 sum of raw int8 values.
// The explicit conversions keep Go from fusing the multiply and add.
func (p meanParams) delegate(sum int32, s, b float32) int8 {
	return clampInt8(math.RoundToEven(float64(float32(float32(sum)*s) + b)))
}

// gavgpool is Debian's XNNPACK global average pooling output for the sum.
func (p meanParams) gavgpool(sum int32, sd float32) int8 {
	acc := sum - int32(p.n)*p.zi
	return clampInt8(math.RoundToEven(float64(float32(acc)*sd)) + float64(p.zo))
}

func clampInt8(v float64) int8 { return int8(min(max(v, math.MinInt8), math.MaxInt8)) }

// gavgpoolDiffers returns how many possible sums Debian's global average
// pooling would round differently from the delegate (0: XNNPACK may run it).
func (p meanParams) gavgpoolDiffers() int {
	s, b := p.scaleBias()
	sd := p.si / float32(p.so*float32(p.n))
	bad := 0
	for sum := int32(-128 * p.n); sum <= int32(127*p.n); sum++ {
		if p.delegate(sum, s, b) != p.gavgpool(sum, sd) {
			bad++
		}
	}
	return bad
}

// checkMeanRounding refuses an int8 MEAN over H and W that XNNPACK's global
// average pooling would round differently from the delegate for some sum.
func checkMeanRounding(m *tflite.Model, op *tflite.Operator) error {
	p, ok := delegateMeanParams(m, op)
	if !ok {
		return nil
	}
	if !gavgpoolFP32 {
		return fmt.Errorf("int8 MEAN: this XNNPACK's global average pooling rounds in fixed point on %s, TFLite's XNNPACK delegate in fp32; runs on edgenas's copy of the delegate's arithmetic", goruntime.GOARCH)
	}
	if bad := p.gavgpoolDiffers(); bad > 0 {
		return fmt.Errorf("int8 MEAN: this XNNPACK's global average pooling rounds %d of the %d possible sums differently from TFLite's XNNPACK delegate; runs on edgenas's copy of the delegate's arithmetic", bad, 255*p.n+1)
	}
	return nil
}

// meanKernel runs an int8 MEAN over H and W with the delegate's arithmetic
// (see above) on the tensor arena, as a ref.Kernel.
type meanKernel struct {
	p          meanParams
	in, out    int
	batch, ch  int
	scale, off float32
	sums       []int32
}

func newMeanKernel(m *tflite.Model, op *tflite.Operator) (*meanKernel, bool) {
	p, ok := delegateMeanParams(m, op)
	if !ok {
		return nil, false
	}
	in := &m.Tensors[op.Inputs[0]]
	k := &meanKernel{p: p, in: op.Inputs[0], out: op.Outputs[0], batch: int(in.Shape[0]), ch: int(in.Shape[3])}
	k.scale, k.off = p.scaleBias()
	k.sums = make([]int32, k.ch)
	return k, true
}

// Eval implements ref.Kernel.
func (k *meanKernel) Eval(bufs [][]byte) error {
	x, y := bufs[k.in], bufs[k.out]
	if len(x) != k.batch*k.p.n*k.ch || len(y) != k.batch*k.ch {
		return fmt.Errorf("MEAN: buffers of %d and %d bytes, want %d and %d", len(x), len(y), k.batch*k.p.n*k.ch, k.batch*k.ch)
	}
	for b := range k.batch {
		sumPixels(x[b*k.p.n*k.ch:(b+1)*k.p.n*k.ch], k.sums)
		for c, s := range k.sums {
			y[b*k.ch+c] = byte(k.p.delegate(s, k.scale, k.off))
		}
	}
	return nil
}
