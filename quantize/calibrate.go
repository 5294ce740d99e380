package quantize

import (
	"fmt"
	"math"
	"unsafe"

	"edgenas/runtime/ref"
	"edgenas/tflite"
)

// Kernel runs one operator on a tensor arena: bufs[i] is tensor i's bytes
// (ref.Kernel satisfies it).
type Kernel interface {
	Eval(bufs [][]byte) error
}

// KernelFunc builds the kernel for operator op of m.
type KernelFunc func(m *tflite.Model, op int) (Kernel, error)

// RefKernels builds operator op's kernel from edgenas/runtime/ref.
func RefKernels(m *tflite.Model, op int) (Kernel, error) { return ref.NewKernel(m, op) }

// Method is how calibration turns observed values into a range.
type Method int

// Calibration methods.
const (
	// MinMax takes the smallest and largest value seen over all samples
	// (TFLite's calibrator).
	MinMax Method = iota
	// Percentile clips outliers: per sample, the range between the
	// (100-P)th and Pth percentiles of the tensor's values, averaged over
	// samples.
	Percentile
)

// CalibOptions configure Calibrate.
type CalibOptions struct {
	Method Method
	// Percentile is P for the Percentile method, in (50, 100]; 0 means 99.99.
	Percentile float64
	// Kernels builds the operators' kernels; nil means the pure-Go
	// reference kernels of edgenas/runtime/ref.
	Kernels KernelFunc
}

// tracer runs a model operator by operator on an arena that keeps every
// tensor, so each intermediate value can be read after a run.
type tracer struct {
	m       *tflite.Model
	kernels []Kernel
	bufs    [][]byte
}

func newTracer(m *tflite.Model, newKernel KernelFunc) (*tracer, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if newKernel == nil {
		newKernel = RefKernels
	}
	t := &tracer{m: m, kernels: make([]Kernel, len(m.Operators)), bufs: make([][]byte, len(m.Tensors))}
	for i := range m.Operators {
		k, err := newKernel(m, i)
		if err != nil {
			return nil, fmt.Errorf("operator %d (%v): %w", i, m.Operators[i].Op, err)
		}
		t.kernels[i] = k
	}
	for i := range m.Tensors {
		tt := &m.Tensors[i]
		if tt.IsConst() {
			t.bufs[i] = tt.Data
		} else {
			t.bufs[i] = make([]byte, tt.Bytes())
		}
	}
	return t, nil
}

// run evaluates the graph on raw input bytes, one slice per graph input.
func (t *tracer) run(inputs [][]byte) error {
	if len(inputs) != len(t.m.Inputs) {
		return fmt.Errorf("%d inputs for a model with %d", len(inputs), len(t.m.Inputs))
	}
	for i, in := range inputs {
		dst := t.bufs[t.m.Inputs[i]]
		if len(in) != len(dst) {
			return fmt.Errorf("input %d is %d bytes, tensor %q needs %d", i, len(in), t.m.Input(i).Name, len(dst))
		}
		copy(dst, in)
	}
	for i, k := range t.kernels {
		if err := k.Eval(t.bufs); err != nil {
			return fmt.Errorf("operator %d (%v): %w", i, t.m.Operators[i].Op, err)
		}
	}
	return nil
}

// Trace runs m once on raw input bytes (one slice per graph input) and
// returns every tensor's bytes after the run, indexed like m.Tensors
// (constants are m's own data). It is how per-layer errors are measured.
// newKernel nil means RefKernels (float and int8 models).
func Trace(m *tflite.Model, newKernel KernelFunc, inputs ...[]byte) ([][]byte, error) {
	t, err := newTracer(m, newKernel)
	if err != nil {
		return nil, fmt.Errorf("quantize: trace: %w", err)
	}
	if err := t.run(inputs); err != nil {
		return nil, fmt.Errorf("quantize: trace: %w", err)
	}
	return t.bufs, nil
}

// Calibrate runs the FLOAT32 model fm on each sample (samples[i] holds one
// float slice per graph input) and returns the range of every float32
// activation tensor, the graph inputs included.
func Calibrate(fm *tflite.Model, samples [][][]float32, opts CalibOptions) (Ranges, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("quantize: calibrate: no samples")
	}
	p := opts.Percentile
	if p == 0 {
		p = 99.99
	}
	if opts.Method == Percentile && (p <= 50 || p > 100 || math.IsNaN(p)) {
		return nil, fmt.Errorf("quantize: calibrate: percentile %v outside (50, 100]", p)
	}
	if opts.Method != MinMax && opts.Method != Percentile {
		return nil, fmt.Errorf("quantize: calibrate: unknown method %d", opts.Method)
	}
	t, err := newTracer(fm, opts.Kernels)
	if err != nil {
		return nil, fmt.Errorf("quantize: calibrate: %w", err)
	}
	var acts []int
	for i := range fm.Tensors {
		if tt := &fm.Tensors[i]; !tt.IsConst() && tt.Type == tflite.Float32 {
			acts = append(acts, i)
		}
	}
	ranges := Ranges{}
	sums := map[int][2]float64{}
	for s, sample := range samples {
		in := make([][]byte, len(sample))
		for i, x := range sample {
			in[i] = float32Bytes(x)
		}
		if err := t.run(in); err != nil {
			return nil, fmt.Errorf("quantize: calibrate: sample %d: %w", s, err)
		}
		for _, ti := range acts {
			vals, _ := f32view(t.bufs[ti])
			var lo, hi float32
			if opts.Method == Percentile {
				lo, hi = percentileRange(vals, p)
			} else {
				lo, hi = minMax(vals)
			}
			if isBad(lo) || isBad(hi) {
				return nil, fmt.Errorf("quantize: calibrate: sample %d: tensor %d (%q) has non-finite values", s, ti, fm.Tensors[ti].Name)
			}
			if opts.Method == Percentile {
				acc := sums[ti]
				sums[ti] = [2]float64{acc[0] + float64(lo), acc[1] + float64(hi)}
				continue
			}
			r, ok := ranges[ti]
			if !ok {
				r = Range{lo, hi}
			}
			ranges[ti] = Range{min(r.Min, lo), max(r.Max, hi)}
		}
	}
	if opts.Method == Percentile {
		n := float64(len(samples))
		for ti, acc := range sums {
			ranges[ti] = Range{float32(acc[0] / n), float32(acc[1] / n)}
		}
	}
	return ranges, nil
}

func minMax(v []float32) (lo, hi float32) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi = v[0], v[0]
	for _, x := range v {
		if x < lo || x != x {
			lo = x
		}
		if x > hi || x != x {
			hi = x
		}
	}
	return lo, hi
}

// percentileRange estimates the (100-p)th and pth percentiles of v.
func percentileRange(v []float32, p float64) (lo, hi float32) {
	mn, mx := minMax(v)
	if mn == mx || isBad(mn) || isBad(mx) || p >= 100 {
		return mn, mx
	}
	return quantile(v, 1-p/100, mn, mx), quantile(v, p/100, mn, mx)
}

// quantile finds the value below which a share q of v lies with a
// histogram refined three times around the target bin, so large tensors
// need no sort and a far outlier (which stretches the first histogram)
// does not cost precision.
func quantile(v []float32, q float64, mn, mx float32) float32 {
	const bins = 1024
	lo, hi := float64(mn), float64(mx)
	target := q * float64(len(v))
	below := 0.0 // values known to lie under lo
	hist := make([]int, bins)
	for level := 0; level < 3; level++ {
		clear(hist)
		w := (hi - lo) / bins
		if w <= 0 {
			break
		}
		for _, x := range v {
			f := float64(x)
			if f < lo || f > hi || (level > 0 && f == hi) {
				continue
			}
			hist[min(int((f-lo)/w), bins-1)]++
		}
		cum := below
		b := 0
		for ; b < bins-1 && cum+float64(hist[b]) < target; b++ {
			cum += float64(hist[b])
		}
		c := float64(hist[b])
		below, lo = cum, lo+float64(b)*w
		hi = lo + w
		if c <= 1 || level == 2 {
			frac := 0.0
			if c > 0 {
				frac = min(max((target-cum)/c, 0), 1)
			}
			return float32(lo + frac*w)
		}
	}
	return float32(lo)
}

// Float32Bytes encodes floats as little-endian bytes (a float tensor's data).
func Float32Bytes(v []float32) []byte { return float32Bytes(v) }

// Float32s decodes a float32 tensor's little-endian bytes.
func Float32s(b []byte) []float32 { return float32s(b) }

func int8s(b []byte) []int8 {
	v := make([]int8, len(b))
	for i, x := range b {
		v[i] = int8(x)
	}
	return v
}

// littleEndian reports whether the host stores float32 as TFLite does.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f32view reads a float32 tensor's bytes as []float32 without copying when
// the host is little-endian and the bytes are 4-byte aligned (calibration
// reads every activation of every sample; decoding copies cost as much as
// the convolutions); otherwise it returns a decoded copy and direct false.
func f32view(b []byte) (v []float32, direct bool) {
	if len(b) == 0 {
		return nil, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if !littleEndian || uintptr(p)%4 != 0 {
		return float32s(b), false
	}
	return unsafe.Slice((*float32)(p), len(b)/4), true
}
