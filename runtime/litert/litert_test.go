package litert

import (
	"context"
	"strings"
	"testing"

	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// TestRunErrors checks that what LiteRT refuses is a clear per-job error,
// that the other jobs of the batch still run, and that a cancelled context
// stops the process.
func TestRunErrors(t *testing.T) {
	r := ForTest(t)
	l := space.Layer{Kind: space.KindFC, InH: 1, InW: 1, InC: 8, OutH: 1, OutW: 1, OutC: 4, Slot: -1}
	m, err := quantize.Generate([]space.Layer{l}, 1, quantize.GenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := tflite.Write(m)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 8)
	jobs := []Job{
		{Model: []byte("not a flatbuffer"), Inputs: [][][]byte{{in}}},
		{Model: good, Inputs: [][][]byte{{make([]byte, 7)}}},
		{Model: good, Inputs: [][][]byte{{in}, {in}}},
	}
	res, err := r.RunBatch(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		res     Result
		wantErr string
	}{
		{name: "not a model", res: res[0], wantErr: "load model"},
		{name: "input of the wrong size", res: res[1], wantErr: "input 0: 7 bytes, the model's input takes 8"},
		{name: "good model, two input sets", res: res[2]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr != "" {
				if tc.res.Err == nil || !strings.Contains(tc.res.Err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", tc.res.Err, tc.wantErr)
				}
				return
			}
			if tc.res.Err != nil || len(tc.res.Outputs) != 2 || len(tc.res.Outputs[0]) != 1 || len(tc.res.Outputs[0][0]) != 4 {
				t.Errorf("result %+v", tc.res)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, good, [][]byte{in}); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled run: %v", err)
	}
}

// TestDecodeResponse checks the response is matched against the request.
func TestDecodeResponse(t *testing.T) {
	jobs := []Job{{Inputs: [][][]byte{{nil}}}}
	cases := []struct {
		name, out, wantErr string
	}{
		{name: "ok", out: `{"results":[{"outputs":[["AAE="]]}]}`},
		{name: "job error", out: `{"results":[{"error":"boom"}]}`},
		{name: "not JSON", out: `Aborted(`, wantErr: "decode node output"},
		{name: "too few results", out: `{"results":[]}`, wantErr: "0 results for 1 jobs"},
		{name: "too few output sets", out: `{"results":[{"outputs":[]}]}`, wantErr: "0 output sets for 1 input sets"},
		{name: "bad base64", out: `{"results":[{"outputs":[["!!"]]}]}`, wantErr: "illegal base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := decodeResponse([]byte(tc.out), jobs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "job error" && (res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "boom")) {
				t.Errorf("job error: %v", res[0].Err)
			}
		})
	}
}

// FuzzDecodeResponse checks arbitrary node output never panics.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"results":[{"outputs":[["AAE="]]}]}`))
	f.Add([]byte(`{"results":[{"error":"x"}]}`))
	f.Add([]byte(`{"results":[{"outputs":[[]]}]}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		res, err := decodeResponse(out, []Job{{Inputs: [][][]byte{{nil}}}})
		if err == nil && len(res) != 1 {
			t.Fatalf("%d results for 1 job", len(res))
		}
	})
}
