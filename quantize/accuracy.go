package quantize

import (
	"fmt"
	"math"

	"edgenas/runtime"
	"edgenas/tflite"
)

// Accuracy runs a classifier loaded in it on float images (each the size of
// the model's input, in the model's real units) and returns top-1 accuracy
// against labels. Int8 inputs are quantized with the input tensor's
// parameters, as a deployed app would do.
func Accuracy(it runtime.Interpreter, images []float32, labels []uint8) (float64, error) {
	m := it.Model()
	in, out := m.Input(0), m.Output(0)
	per := in.NumElements()
	if len(labels) == 0 || len(images) != per*len(labels) {
		return 0, fmt.Errorf("accuracy: %d floats for %d labels (want %d per image)", len(images), len(labels), per)
	}
	buf := make([]byte, in.Bytes())
	correct := 0
	for i, label := range labels {
		img := images[i*per : (i+1)*per]
		switch in.Type {
		case tflite.Int8:
			if in.Quant == nil || len(in.Quant.Scale) != 1 {
				return 0, fmt.Errorf("accuracy: int8 input %q has no per-tensor quantization", in.Name)
			}
			s, zp := float64(in.Quant.Scale[0]), float64(in.Quant.ZeroPoint[0])
			for j, v := range img {
				buf[j] = byte(int8(math.Max(-128, math.Min(127, math.Round(float64(v)/s+zp)))))
			}
		case tflite.Float32:
			copy(buf, Float32Bytes(img))
		default:
			return 0, fmt.Errorf("accuracy: input type %s not supported", in.Type)
		}
		if err := it.SetInput(0, buf); err != nil {
			return 0, err
		}
		if err := it.Invoke(); err != nil {
			return 0, fmt.Errorf("accuracy: image %d: %w", i, err)
		}
		o := it.Output(0)
		best, bestV := 0, math.Inf(-1)
		for c := 0; c < out.NumElements(); c++ {
			var v float64
			if out.Type == tflite.Float32 {
				v = float64(Float32s(o[4*c : 4*c+4])[0])
			} else {
				v = float64(int8(o[c]))
			}
			if v > bestV {
				best, bestV = c, v
			}
		}
		if best == int(label) {
			correct++
		}
	}
	return float64(correct) / float64(len(labels)), nil
}
