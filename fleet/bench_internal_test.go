package fleet

import (
	"strings"
	"testing"

	"edgenas/agent/proto"
	"edgenas/profiler"
)

func TestModelSpecValidation(t *testing.T) {
	ref := func(c byte) proto.ModelRef {
		sha := strings.Repeat(string(c), 64)
		return proto.ModelRef{Name: "m" + string(c), SHA256: sha, Size: 10, URL: "http://127.0.0.1:1/artifacts/" + sha}
	}
	tests := []struct {
		name   string
		models []proto.ModelRef
		group  int
		edit   func(*RunSpec)
		want   string
	}{
		{name: "valid", models: []proto.ModelRef{ref('a'), ref('b'), ref('c')}, group: 2},
		{name: "twice", models: []proto.ModelRef{ref('a'), ref('a')}, group: 2, want: "listed twice"},
		{name: "group too large", models: []proto.ModelRef{ref('a')}, group: proto.MaxModelsPerJob + 1, want: "models per job"},
		{name: "key is not the hash", models: []proto.ModelRef{ref('a')}, group: 1,
			edit: func(s *RunSpec) { s.Keys[0] = "fc-input:16-output:10" }, want: "is not its sha256"},
		{name: "unknown kind", models: []proto.ModelRef{ref('a')}, group: 1, edit: func(s *RunSpec) { s.Kind = "firmware" }, want: "kind"},
		{name: "profile with models", models: []proto.ModelRef{ref('a')}, group: 1, edit: func(s *RunSpec) { s.Kind = "" }, want: "lists 1 models"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := NewModelSpec("c", tc.models, tc.group, 1, 1, profiler.DefaultProtocol())
			if err == nil && tc.edit != nil {
				tc.edit(&spec)
				err = spec.validate()
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				tab, err := newTable(spec)
				if err != nil {
					t.Fatal(err)
				}
				j := &proto.Job{Keys: tab.jobs[1].Keys}
				spec.addModels(j)
				if j.Kind != proto.JobKindModels || len(j.Models) != 1 || j.Models[0].Name != "mc" {
					t.Errorf("second job carries %+v", j)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
