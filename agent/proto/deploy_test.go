package proto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validManifest() Manifest {
	return Manifest{Kind: ManifestModel, Name: "m1", Version: 3, Size: 1000, SHA256: strings.Repeat("ab", 32),
		URL: "http://127.0.0.1:8080/artifacts/" + strings.Repeat("ab", 32), InputSeed: 7, Expected: []byte{1, 2, 3},
		MaxDiff: 1, Created: time.Now()}
}

func TestManifestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(m *Manifest)
		want string // "" accepts
	}{
		{"valid", func(*Manifest) {}, ""},
		{"valid agent", func(m *Manifest) { m.Kind, m.Target, m.Expected = ManifestAgent, "linux/arm64", nil }, ""},
		{"bad kind", func(m *Manifest) { m.Kind = "firmware" }, "kind"},
		{"bad name", func(m *Manifest) { m.Name = "../x" }, "name"},
		{"version 0", func(m *Manifest) { m.Version = 0 }, "version 0"},
		{"no size", func(m *Manifest) { m.Size = 0 }, "size"},
		{"huge size", func(m *Manifest) { m.Size = MaxArtifact + 1 }, "size"},
		{"bad sha", func(m *Manifest) { m.SHA256 = "xyz" }, "sha256"},
		{"upper sha", func(m *Manifest) { m.SHA256 = strings.Repeat("AB", 32) }, "sha256"},
		{"file url", func(m *Manifest) { m.URL = "file:///etc/passwd" }, "url"},
		{"negative diff", func(m *Manifest) { m.MaxDiff = -1 }, "max_diff"},
		{"no expected", func(m *Manifest) { m.Expected = nil }, "expected"},
		{"agent without target", func(m *Manifest) { m.Kind = ManifestAgent }, "target"},
		{"output check", func(m *Manifest) { m.Check = CheckOutput }, ""},
		{"output check without expected", func(m *Manifest) { m.Check, m.Expected = CheckOutput, nil }, "expected"},
		{"timing check", func(m *Manifest) { m.Check, m.Expected, m.MaxDiff = CheckTiming, nil, 0 }, ""},
		{"timing check with expected", func(m *Manifest) { m.Check, m.MaxDiff = CheckTiming, 0 }, "timing"},
		{"timing check with max_diff", func(m *Manifest) { m.Check, m.Expected, m.MaxDiff = CheckTiming, nil, 3 }, "max_diff"},
		{"unknown check", func(m *Manifest) { m.Check = "none" }, `check "none"`},
		{"agent with check", func(m *Manifest) {
			m.Kind, m.Target, m.Expected, m.Check = ManifestAgent, "linux/arm64", nil, CheckTiming
		}, "agent bundles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validManifest()
			c.edit(&m)
			err := m.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestDecodeDeployInstall(t *testing.T) {
	dt, it := Topic("a1", KindDeploy), Topic("a1", KindInstall)
	dep := &Deploy{Rollout: "r-20261127-1", Manifest: []byte(`{"key_id":"x"}`)}
	inst := &Install{Agent: "a1", Rollout: "r-1", Kind: ManifestModel, Name: "m1", Version: 2, State: InstallDownloading,
		Bytes: 10, Size: 20, Time: time.Now()}
	for _, c := range []struct {
		topic string
		msg   any
	}{{dt, dep}, {it, inst}, {it, &Install{Agent: "a1", Rollout: "r-1", State: InstallRefused, Reason: "signature: signed by another key"}}} {
		if _, err := Decode(c.topic, mustEncode(t, c.msg)); err != nil {
			t.Errorf("%s: %v", c.topic, err)
		}
	}
	cases := []struct {
		name, topic string
		payload     []byte
		want        string
	}{
		{"deploy no manifest", dt, patch(t, dep, "manifest", nil), "empty manifest"},
		{"deploy bad rollout", dt, patch(t, dep, "rollout", "a/b"), "rollout"},
		{"install spoofed", Topic("a2", KindInstall), mustEncode(t, inst), "does not match"},
		{"install bad state", it, patch(t, inst, "state", "done"), "install state"},
		{"rolled back without reason", it, patch(t, inst, "state", InstallRolledBack), "without a reason"},
		{"install no version", it, patch(t, inst, "version", 0), "needs kind"},
		{"install bytes > size", it, patch(t, inst, "bytes", 30), "out of range"},
		{"install bad kind", it, patch(t, inst, "kind", "x"), "kind"},
	}
	for _, c := range cases {
		m, err := Decode(c.topic, c.payload)
		if err == nil || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %T %v, want ErrRejected mentioning %q", c.name, m, err, c.want)
		}
	}
	if !IsAgentKind(KindInstall) || IsAgentKind(KindDeploy) {
		t.Error("IsAgentKind for deploy/install")
	}
	if !IsFinalInstall(InstallRefused) || IsFinalInstall(InstallChecking) {
		t.Error("IsFinalInstall")
	}
}

// FuzzManifestValidate: any JSON an envelope may carry is either refused by
// Validate or is a manifest whose health check is consistent: an output
// check has an expected output, a timing check none.
func FuzzManifestValidate(f *testing.F) {
	for _, edit := range []func(*Manifest){
		func(*Manifest) {},
		func(m *Manifest) { m.Check, m.Expected, m.MaxDiff = CheckTiming, nil, 0 },
		func(m *Manifest) { m.Check = "bogus" },
		func(m *Manifest) {
			m.Kind, m.Target, m.Expected, m.Check = ManifestAgent, "linux/arm64", nil, CheckTiming
		},
	} {
		m := validManifest()
		edit(&m)
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if json.Unmarshal(b, &m) != nil || m.Validate() != nil || m.Kind != ManifestModel {
			return
		}
		switch m.HealthCheck() {
		case CheckOutput:
			if len(m.Expected) == 0 {
				t.Fatalf("valid output check without an expected output: %s", b)
			}
		case CheckTiming:
			if len(m.Expected) != 0 || m.MaxDiff != 0 {
				t.Fatalf("valid timing check with an expected output: %s", b)
			}
		default:
			t.Fatalf("valid manifest with check %q", m.Check)
		}
	})
}
