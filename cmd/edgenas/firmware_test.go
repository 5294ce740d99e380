package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"edgenas/firmware/bundle"
	"edgenas/internal/signing"
)

// testBundle writes a bundle for target whose "agent" is a shell script,
// signed with a fresh key in keys.
func testBundle(t *testing.T, keys, target string, version uint64) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(keys, signing.PrivateFile)); err != nil {
		if _, err := signing.GenerateKey(keys, false); err != nil {
			t.Fatal(err)
		}
	}
	key, err := signing.LoadPrivate(filepath.Join(keys, signing.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "edgenas"), []byte("#!/bin/sh\necho agent \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "agent.bundle")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = bundle.Create(f, key, bundle.Manifest{Version: version, AgentVersion: "t", Target: target, Backend: "ref", MinHostProtocol: 1,
		Binary: "bin/edgenas", Files: []bundle.File{{Path: "bin/edgenas", Exec: true}}, Created: time.Now().UTC()}, src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFirmwareInstall(t *testing.T) {
	keys := t.TempDir()
	here := goruntime.GOOS + "/" + goruntime.GOARCH
	b := testBundle(t, keys, here, 3)
	foreign := testBundle(t, keys, "plan9/mips", 3)
	data := filepath.Join(t.TempDir(), "dev")
	otherKeys := t.TempDir()
	if _, err := signing.GenerateKey(otherKeys, false); err != nil {
		t.Fatal(err)
	}

	// --dir --dry-run describes and changes nothing.
	code, out, errb := runCLI(t, "firmware", "install", "--bundle", b, "--dir", data, "--keys", keys, "--dry-run", "--agent-args", "--broker tcp://h:1883 --id d1")
	if code != 0 || !strings.Contains(out, "firmware run --data "+data) || !strings.Contains(out, "--data-dir "+filepath.Join(data, "agent")) {
		t.Fatalf("dry run: %d\n%s%s", code, out, errb)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("--dry-run created %s", data)
	}
	code, out, errb = runCLI(t, "firmware", "install", "--bundle", b, "--dir", data, "--keys", keys, "--agent-args", "--broker tcp://h:1883 --id d1")
	if code != 0 {
		t.Fatalf("install --dir: %d %s%s", code, out, errb)
	}
	script, err := os.ReadFile(filepath.Join(data, "start.sh"))
	if err != nil || !strings.Contains(string(script), filepath.Join(data, "firmware/current/bin/edgenas")+" firmware run --data "+data) {
		t.Fatalf("start.sh: %v\n%s", err, script)
	}
	var st struct{ Active string }
	if b, err := os.ReadFile(filepath.Join(data, "firmware/state.json")); err != nil || json.Unmarshal(b, &st) != nil || st.Active != "a" {
		t.Fatalf("state.json: %v %+v", err, st)
	}
	if _, err := os.Stat(filepath.Join(data, "firmware/current/bin/edgenas")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"second install refused", []string{"firmware", "install", "--bundle", b, "--dir", data, "--keys", keys}, 1, "already has firmware"},
		{"wrong target refused", []string{"firmware", "install", "--bundle", foreign, "--dir", t.TempDir(), "--keys", keys}, 1, "wrong target: bundle is for plan9/mips"},
		{"wrong key refused", []string{"firmware", "verify", b, "--keys", otherKeys}, 1, "signed by another key"},
		{"downgrade refused", []string{"firmware", "verify", b, "--keys", keys, "--installed", "3"}, 1, "downgrade"},
		{"verify ok", []string{"firmware", "verify", b, "--keys", keys, "--target", here}, 0, "version 3, 1 files verified"},
		{"adb dry run", []string{"firmware", "install", "--bundle", foreign, "--adb", "1A2B", "--keys", keys, "--dry-run", "--agent-args", "--id p1"}, 1, "a phone needs android/arm64"},
		{"two destinations", []string{"firmware", "install", "--bundle", b, "--adb", "x", "--dir", data}, 2, "exactly one of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errb := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errb, c.want) {
				t.Fatalf("%v: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, out, errb)
			}
		})
	}
}

func TestFirmwareRemoteDryRun(t *testing.T) {
	keys := t.TempDir()
	b := testBundle(t, keys, "android/arm64", 4)
	code, out, errb := runCLI(t, "firmware", "install", "--bundle", b, "--adb", "1A2B3C", "--keys", keys, "--dry-run", "--agent-args", "--broker tcp://10.0.0.2:1883 --id pixel7-01")
	if code != 0 {
		t.Fatalf("adb dry run: %d %s%s", code, out, errb)
	}
	for _, want := range []string{"adb -s 1A2B3C push " + b + " /data/local/tmp/edgenas/tmp/stage.bundle",
		"/data/local/tmp/edgenas/tmp/stage/bin/edgenas firmware install --bundle /data/local/tmp/edgenas/tmp/stage.bundle --trust /data/local/tmp/edgenas/host.pub --dir /data/local/tmp/edgenas --agent-args", "--broker tcp://10.0.0.2:1883 --id pixel7-01", "adb -s 1A2B3C push " + b + ".d /data/local/tmp/edgenas/tmp/stage",
		"nohup /data/local/tmp/edgenas/start.sh"} {
		if !strings.Contains(out, want) {
			t.Errorf("adb dry run lacks %q:\n%s", want, out)
		}
	}
	b = testBundle(t, keys, "linux/arm64", 4)
	code, out, errb = runCLI(t, "firmware", "install", "--bundle", b, "--ssh", "pi@raspberrypi.local", "--keys", keys, "--dry-run", "--agent-args", "--id pi5-01")
	if code != 0 {
		t.Fatalf("ssh dry run: %d %s%s", code, out, errb)
	}
	for _, want := range []string{"scp -q -r ", "pi@raspberrypi.local:/home/pi/edgenas/tmp/stage", "Restart=always", "ExecStart=/home/pi/edgenas/start.sh",
		"systemctl daemon-reload && sudo systemctl enable --now edgenas-agent.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("ssh dry run lacks %q:\n%s", want, out)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runCLI(t, "version", "--json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version --json: %d %s", code, out)
	}
	if v.Target != goruntime.GOOS+"/"+goruntime.GOARCH || len(v.Backends) == 0 || v.Go == "" {
		t.Fatalf("version --json: %+v", v)
	}
}
