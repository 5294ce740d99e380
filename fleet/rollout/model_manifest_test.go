package rollout_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
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

func TestModelManifestSignedAndExpected(t *testing.T) {
	a := fleettest.ServeArtifacts(t).Add(t, fleettest.LayerModel(t, "fc-input:16-output:10"))
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

	key, other := fleettest.NewKey(t), fleettest.NewKey(t)
	pub := key.Public
	env, err := rollout.SignManifest(key.Private, m)
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
	envOther, err := rollout.SignManifest(other.Private, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.OpenJSON(pub, envOther, &back); !errors.Is(err, signing.ErrWrongKey) {
		t.Errorf("manifest signed by another key: %v, want ErrWrongKey", err)
	}
}

func TestModelManifestErrors(t *testing.T) {
	arts := fleettest.ServeArtifacts(t)
	good := arts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10"))
	bad := arts.Add(t, []byte("not a flatbuffer at all"))
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

// TestProtocolDocMaxDiff: docs/protocol.md states the default tolerance the
// code uses.
func TestProtocolDocMaxDiff(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("defaults to %d quanta", rollout.DefaultMaxDiff)
	if text := strings.Join(strings.Fields(string(doc)), " "); !strings.Contains(text, want) {
		t.Errorf("docs/protocol.md does not say max_diff %s", want)
	}
}
