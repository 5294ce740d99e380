package backends

import (
	"bytes"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/tflite"
)

// TestMicroSpeechExact runs Google's int8 keyword-spotting model (RESHAPE,
// DEPTHWISE_CONV_2D, FULLY_CONNECTED, SOFTMAX) on both backends. The
// outputs are identical on almost every input and the top-1 class on all:
// XNNPACK's convolutions requantize with single rounding where TFLite's
// reference kernels (ref) round twice (AGREEMENT.md), which moves an
// accumulator by one quantum on rare ties, and SOFTMAX then amplifies it.
// Measured: 29 of 30 seeded inputs identical, the other 3 quanta apart.
func TestMicroSpeechExact(t *testing.T) {
	m, err := tflite.ReadFile(refdata.Path(t, "micro_speech_quantized.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	if !xnnpackAvailable() {
		t.Skip("xnnpack not in this build")
	}
	x, r := load(t, "xnnpack", m), load(t, "ref", m)
	classes := map[int]bool{}
	const inputs = 30
	same := 0
	for k := range inputs {
		in := naturalInput(t, m, k)
		for _, it := range []interface{ SetInput(int, []byte) error }{x, r} {
			if err := it.SetInput(0, in); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Invoke(); err != nil {
			t.Fatal(err)
		}
		if err := r.Invoke(); err != nil {
			t.Fatal(err)
		}
		gx, gr := x.Output(0), r.Output(0)
		if bytes.Equal(gx, gr) {
			same++
		} else {
			t.Logf("input %d: xnnpack %v, ref %v", k, int8s(gx), int8s(gr))
		}
		if top1(gx) != top1(gr) {
			t.Errorf("input %d: top-1 %d on xnnpack, %d on ref", k, top1(gx), top1(gr))
		}
		classes[top1(gr)] = true
	}
	t.Logf("%d of %d outputs identical; top-1 classes seen: %v", same, inputs, classes)
	if same < inputs*9/10 {
		t.Errorf("only %d of %d outputs identical", same, inputs)
	}
	if len(classes) < 2 {
		t.Errorf("inputs reach only classes %v: the check says little", classes)
	}
}

func top1(b []byte) int {
	best := 0
	for i := range b {
		if int8(b[i]) > int8(b[best]) {
			best = i
		}
	}
	return best
}

func int8s(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}
