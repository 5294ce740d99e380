package tflite

import "testing"

func BenchmarkReadMobileNetV2(b *testing.B) {
	data := realFile(b, "mobilenet_v2_quantized_1x3x224x224.tflite")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteMobileNetV2(b *testing.B) {
	m, err := Read(realFile(b, "mobilenet_v2_quantized_1x3x224x224.tflite"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(m); err != nil {
			b.Fatal(err)
		}
	}
}
