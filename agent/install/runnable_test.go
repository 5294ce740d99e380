package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"edgenas/agent/proto"
	"edgenas/internal/refdata"
)

// TestRefusesModelBackendCannotRun deploys real models with operators the
// agent's backend cannot run (SVDF, LSTM): the agent refuses each after
// verifying the download and before installing anything, naming the
// operators, and the committed version stays current.
func TestRefusesModelBackendCannotRun(t *testing.T) {
	dir, err := refdata.Find()
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	f := newFixture(t)
	body1, exp1 := testModel(t, "fc-input:16-output:10")
	a := f.start(f.pub, nil)
	a.deploy("r1", f.sign(f.serve("m", 1, body1, exp1)))
	if r := a.final(t, 1); r.State != proto.InstallCommitted {
		t.Fatalf("v1: %+v", r)
	}
	tests := []struct {
		file string
		want []string
	}{
		{"keyword_scrambled_8bit.tflite", []string{"ref backend cannot run operators", "SVDF (operators 1, 3, 5, 7, 9, 10, 11", "QUANTIZE"}},
		{"trained_lstm_int8.tflite", []string{"UNIDIRECTIONAL_SEQUENCE_LSTM (operator 0: UNIDIRECTIONAL_SEQUENCE_LSTM is not modelled"}},
	}
	for k, tc := range tests {
		body, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		v := uint64(2 + k)
		man := f.serve("m", v, body, []byte{0, 1, 2, 3})
		a.deploy(tc.file, f.sign(man))
		r := a.final(t, 2+k)
		if r.State != proto.InstallRefused {
			t.Fatalf("%s: %+v", tc.file, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Reason, w) {
				t.Errorf("%s: reason %q lacks %q", tc.file, r.Reason, w)
			}
		}
		mustCheck(t, a.models, "m", 1)
		for _, p := range []string{a.models.versionDir("m", v), a.models.stageDir("m", v), a.models.partial(man.SHA256)} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s left behind (%v)", tc.file, p, err)
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.reports {
		if r.Rollout != "r1" && slices.Contains([]string{proto.InstallInstalling, proto.InstallChecking}, r.State) {
			t.Errorf("rollout %s reached %s before the refusal", r.Rollout, r.State)
		}
	}
}
