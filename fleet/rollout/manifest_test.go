package rollout

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/space"
	"edgenas/tflite"
)

// writeLayerModel writes a one-layer int8 model for key to a temp file.
func writeLayerModel(t *testing.T, key string) string {
	t.Helper()
	l, err := space.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := profiler.LayerModel(l)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.tflite")
	if err := tflite.WriteFile(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModelManifestSignedAndExpected(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.AddArtifact(writeLayerModel(t, "fc-input:16-output:10"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ModelManifest(a, ManifestOptions{Name: "fmnist", Version: 4, URL: "http://127.0.0.1:1/artifacts/" + a.SHA256,
		InputSeed: 7, MaxDiff: DefaultMaxDiff})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Expected) != 10 || m.SHA256 != a.SHA256 || m.Size != a.Size || m.Kind != proto.ManifestModel {
		t.Fatalf("manifest %+v", m)
	}
	// Expected is what the ref backend computes on the seeded input, and
	// depends on the seed.
	model, err := tflite.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	be, _ := backends.Lookup("ref")
	it, err := be.Load(model, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for _, seed := range []uint64{7, 8} {
		if err := profiler.FillRandomInputs(it, seed); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		if same := bytes.Equal(it.Output(0), m.Expected); same != (seed == 7) {
			t.Errorf("seed %d: output equal to Expected = %v", seed, same)
		}
	}

	kd, otherDir := t.TempDir(), t.TempDir()
	pub, err := signing.GenerateKey(kd, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.GenerateKey(otherDir, false); err != nil {
		t.Fatal(err)
	}
	key, _ := signing.LoadPrivate(filepath.Join(kd, signing.PrivateFile))
	other, _ := signing.LoadPrivate(filepath.Join(otherDir, signing.PrivateFile))
	env, err := SignManifest(key, m)
	if err != nil {
		t.Fatal(err)
	}
	var back proto.Manifest
	if err := signing.OpenJSON(pub, env, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != 4 || !bytes.Equal(back.Expected, m.Expected) || !back.Created.Equal(m.Created) {
		t.Errorf("verified manifest %+v differs from %+v", back, m)
	}
	envOther, err := SignManifest(other, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.OpenJSON(pub, envOther, &back); !errors.Is(err, signing.ErrWrongKey) {
		t.Errorf("manifest signed by another key: %v, want ErrWrongKey", err)
	}
}

func TestModelManifestErrors(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good, err := st.AddArtifact(writeLayerModel(t, "fc-input:16-output:10"))
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.tflite")
	os.WriteFile(junk, []byte("not a flatbuffer at all"), 0o644)
	bad, err := st.AddArtifact(junk)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://h:1/artifacts/" + good.SHA256
	tests := []struct {
		name string
		a    Artifact
		o    ManifestOptions
		want string
	}{
		{"not a model", bad, ManifestOptions{Name: "m", Version: 1, URL: url}, "expected output"},
		{"bad name", good, ManifestOptions{Name: "a/b", Version: 1, URL: url}, "manifest name"},
		{"version 0", good, ManifestOptions{Name: "m", Version: 0, URL: url}, "version 0"},
		{"bad url", good, ManifestOptions{Name: "m", Version: 1, URL: "file:///x"}, "url"},
		{"max diff", good, ManifestOptions{Name: "m", Version: 1, URL: url, MaxDiff: 300}, "max_diff"},
	}
	for _, tc := range tests {
		_, err := ModelManifest(tc.a, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestResolveTargets(t *testing.T) {
	agents := []Agent{{ID: "b1", Class: "pi", State: proto.StateOnline}, {ID: "a1", Class: "pi", State: proto.StateOffline},
		{ID: "c1", Class: "pixel7", State: proto.StateBusy}}
	tests := []struct {
		target string
		want   string // ids, or the error substring after "!"
	}{
		{"all", "a1,b1,c1"},
		{"class:pi", "a1,b1"},
		{"class:pixel7", "c1"},
		{"c1", "c1"},
		{"class:nope", "!no agent of class"},
		{"class:", "!class"},
		{"zz", "!no such agent"},
		{"a/b", "!want AGENT, class:C or all"},
		{"", "!empty target"},
	}
	for _, tc := range tests {
		got, err := Resolve(tc.target, agents)
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("Resolve(%q) = %v, %v; want error %q", tc.target, got, err, tc.want[1:])
			}
			continue
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if err != nil || strings.Join(ids, ",") != tc.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tc.target, ids, err, tc.want)
		}
	}
	if _, err := Resolve("all", nil); err == nil {
		t.Error("Resolve(all) over no agents succeeded")
	}
}

func TestStoreVersionsAndList(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.NextVersion("m"); err != nil || v != 1 {
		t.Fatalf("NextVersion on an empty store = %d, %v", v, err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range []uint64{3, 7, 5} {
		m := proto.Manifest{Kind: proto.ManifestModel, Name: "m", Version: v, Created: base.Add(time.Duration(i) * time.Minute)}
		r := NewRollout(NewID("m", v, m.Created), m, nil, "all", agentsOf(1), 1, 0, 1)
		r.Phase = PhaseAborted
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	other := proto.Manifest{Kind: proto.ManifestModel, Name: "other", Version: 40, Created: base}
	if err := st.Save(NewRollout(NewID("other", 40, base), other, nil, "all", agentsOf(1), 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.NextVersion("m"); v != 8 {
		t.Errorf("NextVersion(m) = %d, want 8", v)
	}
	latest, err := st.Latest()
	if err != nil || latest.Version != 5 {
		t.Errorf("Latest = %+v, %v; want the v5 rollout (created last)", latest, err)
	}
	all, _ := st.List()
	if len(all) != 4 {
		t.Errorf("List: %d rollouts, want 4", len(all))
	}
	if _, err := st.Load("nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Load(nope): %v", err)
	}
	if _, err := st.Load("../x"); err == nil {
		t.Error("Load(../x) succeeded")
	}
}
