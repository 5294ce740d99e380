package runtimetest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"edgenas/tflite"
)

// ReadGrayBMP returns the pixels of a w x h 8-bit (palette) BMP in top-down
// row order, as the person-detection model's input takes them (BMP stores
// rows bottom-up, padded to 4 bytes).
func ReadGrayBMP(path string, w, h int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 54 || string(b[:2]) != "BM" {
		return nil, fmt.Errorf("%s: not a BMP", path)
	}
	off := int(binary.LittleEndian.Uint32(b[10:]))
	bw, bh := int(int32(binary.LittleEndian.Uint32(b[18:]))), int(int32(binary.LittleEndian.Uint32(b[22:])))
	bpp := int(binary.LittleEndian.Uint16(b[28:]))
	if bw != w || bh != h || bpp != 8 {
		return nil, fmt.Errorf("%s: %dx%d at %d bits, want %dx%d at 8", path, bw, bh, bpp, w, h)
	}
	stride := (w + 3) &^ 3
	if off < 0 || off+stride*h > len(b) {
		return nil, fmt.Errorf("%s: pixel data truncated", path)
	}
	px := make([]byte, w*h)
	for y := range h {
		src := b[off+(h-1-y)*stride:]
		copy(px[y*w:(y+1)*w], src[:w])
	}
	return px, nil
}

// ImageNetInput turns a gray size x size image into the int8 input of an
// ImageNet classifier taking NCHW [1, 3, H, W] (the MobileNetV2 of the
// shared data): upscaled by nearest neighbour, mirrored if asked,
// normalised with ImageNet's channel means and deviations, quantized with
// the input's scale. Real photographs give clear top-1 logits where uniform
// noise gives near ties.
func ImageNetInput(in *tflite.Tensor, gray []byte, size int, mirror bool) ([]byte, error) {
	if len(in.Shape) != 4 || in.Shape[0] != 1 || in.Shape[1] != 3 || in.Type != tflite.Int8 || in.Quant == nil || len(in.Quant.Scale) != 1 {
		return nil, fmt.Errorf("input %v %v: want a per-tensor int8 [1, 3, H, W]", in.Type, in.Shape)
	}
	if len(gray) != size*size {
		return nil, fmt.Errorf("%d pixels for a %dx%d image", len(gray), size, size)
	}
	h, w := int(in.Shape[2]), int(in.Shape[3])
	mean, std := []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
	scale, zp := float64(in.Quant.Scale[0]), float64(in.Quant.ZeroPoint[0])
	out := make([]byte, 3*h*w)
	for c := range 3 {
		for y := range h {
			for x := range w {
				sx := x * size / w
				if mirror {
					sx = size - 1 - sx
				}
				p := float64(gray[(y*size/h)*size+sx]) / 255
				q := math.Round((p-mean[c])/std[c]/scale + zp)
				out[(c*h+y)*w+x] = byte(int8(max(-128, min(127, q))))
			}
		}
	}
	return out, nil
}
