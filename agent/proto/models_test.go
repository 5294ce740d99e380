package proto

import (
	"strings"
	"testing"

	"edgenas/profiler"
)

func TestModelJobValidation(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	valid := func() *Job {
		return &Job{ID: "r1.00001.r0", Attempt: 1, Run: "r1", Keys: []string{sha}, Threads: 1,
			Protocol: FromProfiler(profiler.DefaultProtocol()), Kind: JobKindModels,
			Models: []ModelRef{{Name: "m.tflite", SHA256: sha, Size: 1000, URL: "http://127.0.0.1:1/artifacts/" + sha}}}
	}
	tests := []struct {
		name string
		edit func(*Job)
		want string
	}{
		{name: "valid", edit: func(*Job) {}},
		{name: "unknown kind", edit: func(j *Job) { j.Kind = "firmware" }, want: "job kind"},
		{name: "key job with models", edit: func(j *Job) { j.Kind = "" }, want: "carries 1 models"},
		{name: "no models", edit: func(j *Job) { j.Models = nil }, want: "0 models"},
		{name: "key is not the hash", edit: func(j *Job) { j.Keys[0] = strings.Repeat("cd", 32) }, want: "is not its sha256"},
		{name: "bad hash", edit: func(j *Job) { j.Models[0].SHA256, j.Keys[0] = "xyz", "xyz" }, want: "sha256"},
		{name: "empty model", edit: func(j *Job) { j.Models[0].Size = 0 }, want: "size 0"},
		{name: "huge model", edit: func(j *Job) { j.Models[0].Size = MaxModelBytes + 1 }, want: "size"},
		{name: "file url", edit: func(j *Job) { j.Models[0].URL = "file:///etc/passwd" }, want: "url"},
		{name: "long name", edit: func(j *Job) { j.Models[0].Name = strings.Repeat("n", 300) }, want: "model name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := valid()
			tc.edit(j)
			_, err := Decode(Topic("a1", KindJob), mustEncode(t, j))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeJob: any payload on a job topic is refused with an error or
// decodes to a job whose model list matches its kind and keys, and that
// survives a round trip.
func FuzzDecodeJob(f *testing.F) {
	sha := strings.Repeat("0f", 32)
	p := FromProfiler(profiler.DefaultProtocol())
	for _, j := range []*Job{
		{ID: "r1.00000.r0", Attempt: 1, Run: "r1", Keys: []string{"fc-input:16-output:10"}, Threads: 1, Protocol: p},
		{ID: "r1.00000.r0", Attempt: 1, Run: "r1", Keys: []string{sha}, Threads: 1, Protocol: p, Kind: JobKindModels,
			Models: []ModelRef{{Name: "m", SHA256: sha, Size: 9, URL: "http://h:1/artifacts/" + sha}}},
	} {
		b, err := Encode(j)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"job","kind":"models","models":[{}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Decode(Topic("a1", KindJob), payload)
		if err != nil {
			return
		}
		j, ok := m.(*Job)
		if !ok {
			t.Fatalf("job topic decoded to %T", m)
		}
		if j.Kind == JobKindModels && len(j.Models) != len(j.Keys) || j.Kind == "" && len(j.Models) != 0 {
			t.Fatalf("kind %q with %d models for %d keys accepted", j.Kind, len(j.Models), len(j.Keys))
		}
		b, err := Encode(j)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Decode(Topic("a1", KindJob), b); err != nil {
			t.Fatalf("round trip refused: %v", err)
		}
	})
}
