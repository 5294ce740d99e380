package tflite

import (
	"bytes"
	"os"
	"testing"

	"edgenas/internal/refdata"
)

// FuzzRead checks Read on arbitrary bytes: it never panics, and whatever it
// accepts writes, reads back, and writes again to the same bytes.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"hello_world_int8.tflite", "person_detect.tflite",
		"keyword_scrambled_8bit.tflite", "trained_lstm_int8.tflite", "micro_speech_quantized.tflite"} {
		if d, err := refdata.Find(); err == nil {
			if data, err := os.ReadFile(d + "/" + name); err == nil {
				f.Add(data)
			}
		}
	}
	if data, err := Write(testModel()); err == nil {
		f.Add(data)
	}
	f.Add(craftModel(craftOptions{}))
	f.Add(craftModel(craftOptions{variable: true}))
	f.Add(craftModel(craftOptions{subgraphs: 2}))
	f.Add(craftFC(32, 32, true, true))
	f.Add(craftFC(127, 150, true, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(data)
		if err != nil {
			return
		}
		Summarize(m)
		if m.checkWritable() != nil {
			return // read for inspection only (unmodelled operators, ...)
		}
		m.Signatures, m.Metadata = nil, nil
		w1, err := Write(m)
		if err != nil {
			t.Fatalf("read but does not write: %v", err)
		}
		m2, err := Read(w1)
		if err != nil {
			t.Fatalf("written model does not read: %v", err)
		}
		w2, err := Write(m2)
		if err != nil {
			t.Fatalf("second write: %v", err)
		}
		if !bytes.Equal(w1, w2) {
			t.Fatal("Write(Read(Write(m))) differs from Write(m)")
		}
	})
}
