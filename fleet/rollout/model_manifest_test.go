package rollout_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// writeLayerModel writes the kit's one-layer model for key to a temp file,
// as a model file handed to `edgenas deploy`.
func writeLayerModel(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.tflite")
	if err := os.WriteFile(p, fleettest.LayerModel(t, key), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModelManifestSignedAndExpected(t *testing.T) {
	st, err := rollout.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.AddArtifact(writeLayerModel(t, "fc-input:16-output:10"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rollout.ModelManifest(a, rollout.ManifestOptions{Name: "fmnist", Version: 4, URL: "http://127.0.0.1:1/artifacts/" + a.SHA256,
		InputSeed: 7, MaxDiff: rollout.DefaultMaxDiff})
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
	env, err := rollout.SignManifest(key, m)
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
	envOther, err := rollout.SignManifest(other, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.OpenJSON(pub, envOther, &back); !errors.Is(err, signing.ErrWrongKey) {
		t.Errorf("manifest signed by another key: %v, want ErrWrongKey", err)
	}
}

func TestModelManifestErrors(t *testing.T) {
	st, err := rollout.OpenStore(t.TempDir())
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
		a    rollout.Artifact
		o    rollout.ManifestOptions
		want string
	}{
		{"not a model", bad, rollout.ManifestOptions{Name: "m", Version: 1, URL: url}, "expected output"},
		{"bad name", good, rollout.ManifestOptions{Name: "a/b", Version: 1, URL: url}, "manifest name"},
		{"version 0", good, rollout.ManifestOptions{Name: "m", Version: 0, URL: url}, "version 0"},
		{"bad url", good, rollout.ManifestOptions{Name: "m", Version: 1, URL: "file:///x"}, "url"},
		{"max diff", good, rollout.ManifestOptions{Name: "m", Version: 1, URL: url, MaxDiff: 300}, "max_diff"},
	}
	for _, tc := range tests {
		_, err := rollout.ModelManifest(tc.a, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
