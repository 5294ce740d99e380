package rollout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/internal/refdata"
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
		{"not a model", bad, rollout.ManifestOptions{Name: "m", Version: 1, URL: url}, "health check: "},
		{"not a model, timing", bad, rollout.ManifestOptions{Name: "m", Version: 1, URL: url, Check: proto.CheckTiming}, "TFL3"},
		{"unknown check", good, rollout.ManifestOptions{Name: "m", Version: 1, URL: url, Check: "vibes"}, `health check "vibes"`},
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

// TestModelManifestCheck: a model the host runs gets an output check unless
// a timing check is asked for; keyword_scrambled (SVDF, which no built-in
// backend runs) gets a timing check, said so with the operator named, or an
// error naming it when an output check is asked for; so does a runnable
// model for targets that include an agent timing with benchmark_model. A
// timing manifest carries no expected output and states its mode in the
// signed JSON.
func TestModelManifestCheck(t *testing.T) {
	arts := fleettest.ServeArtifacts(t)
	fc := arts.Add(t, fleettest.LayerModel(t, "fc-input:16-output:10"))
	kwsBody, err := os.ReadFile(refdata.Path(t, "keyword_scrambled_8bit.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	kws := arts.Add(t, kwsBody)
	mixed := []rollout.Agent{{ID: "phone-1", Backend: "benchmark-model-xnnpack"}, {ID: "pi-1", Backend: "xnnpack"}}
	tests := []struct {
		name      string
		a         rollout.Artifact
		check     string
		wantMode  string
		wantWhy   string // substring of CheckChoice.Why ("" wants none)
		wantErr   string
		wantBytes int // len(Expected)
		targets   []rollout.Agent
	}{
		{name: "runnable, default", a: fc, wantMode: proto.CheckOutput, wantBytes: 10},
		{name: "runnable, output", a: fc, check: proto.CheckOutput, wantMode: proto.CheckOutput, wantBytes: 10},
		{name: "runnable, timing", a: fc, check: proto.CheckTiming, wantMode: proto.CheckTiming},
		{name: "SVDF, default", a: kws, wantMode: proto.CheckTiming, wantWhy: "SVDF (operators 1, 3"},
		{name: "SVDF, timing", a: kws, check: proto.CheckTiming, wantMode: proto.CheckTiming},
		{name: "SVDF, output", a: kws, check: proto.CheckOutput, wantErr: "SVDF (operators 1, 3"},
		{name: "runnable, xnnpack targets", a: fc, targets: []rollout.Agent{{ID: "pi-1", Backend: "xnnpack"}},
			wantMode: proto.CheckOutput, wantBytes: 10},
		{name: "runnable, a benchmark_model target", a: fc, targets: mixed, wantMode: proto.CheckTiming,
			wantWhy: "agents phone-1 time models with benchmark_model"},
		{name: "runnable, output to a benchmark_model target", a: fc, check: proto.CheckOutput, targets: mixed,
			wantErr: "agents phone-1 time models with benchmark_model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := rollout.ChooseCheck(tc.a.Path, "ref", tc.check, tc.targets)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "expected output") {
					t.Fatalf("ChooseCheck: %v, want an error containing %q", err, tc.wantErr)
				}
				if tc.targets != nil {
					return // ModelManifest is not told the targets
				}
				if _, err := rollout.ModelManifest(tc.a, rollout.ManifestOptions{Name: "m", Version: 1, URL: "http://h:1/a",
					Check: tc.check}); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ModelManifest: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Mode != tc.wantMode || (tc.wantWhy == "") != (ch.Why == "") || !strings.Contains(ch.Why, tc.wantWhy) {
				t.Fatalf("choice %+v, want mode %s and why containing %q", ch, tc.wantMode, tc.wantWhy)
			}
			m, err := rollout.ModelManifest(tc.a, rollout.ManifestOptions{Name: "m", Version: 1, URL: "http://h:1/a",
				InputSeed: 3, MaxDiff: rollout.DefaultMaxDiff, Backend: "ref", Check: ch.Mode})
			if err != nil {
				t.Fatal(err)
			}
			if m.HealthCheck() != tc.wantMode || len(m.Expected) != tc.wantBytes {
				t.Fatalf("manifest check %q with %d expected bytes, want %q with %d", m.Check, len(m.Expected), tc.wantMode, tc.wantBytes)
			}
			if tc.wantMode == proto.CheckTiming && (m.MaxDiff != 0 || m.Backend != "") {
				t.Errorf("timing manifest keeps max_diff %d, backend %q", m.MaxDiff, m.Backend)
			}
			key := fleettest.NewKey(t)
			env, err := rollout.SignManifest(key.Private, m)
			if err != nil {
				t.Fatal(err)
			}
			// A timing check is stated; an output check is the field's
			// absence, which agents from before the field read the same way.
			js, err := json.Marshal(m)
			if stated := bytes.Contains(js, []byte(`"check":"timing"`)); err != nil || stated != (tc.wantMode == proto.CheckTiming) ||
				tc.wantMode == proto.CheckOutput && bytes.Contains(js, []byte(`"check"`)) {
				t.Errorf("manifest JSON %s (%v) for a %s check", js, err, tc.wantMode)
			}
			var back proto.Manifest
			if err := signing.OpenJSON(key.Public, env, &back); err != nil || back.HealthCheck() != tc.wantMode {
				t.Errorf("verified manifest check %q (%v), want %q", back.Check, err, tc.wantMode)
			}
		})
	}
}
