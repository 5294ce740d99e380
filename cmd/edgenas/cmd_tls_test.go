package main

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

func TestSecretFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, empty, twoLines := write("good", "s3cret\n"), write("empty", "\n"), write("two", "a\nb\n")
	t.Setenv("EDGENAS_TEST_PW", "from-env")
	cases := []struct {
		name      string
		flags     secretFlags
		want, err string
	}{
		{name: "file, trailing newline dropped", flags: secretFlags{file: good}, want: "s3cret"},
		{name: "environment", flags: secretFlags{}, want: "from-env"},
		{name: "argv first", flags: secretFlags{argv: "argv", file: good}, want: "argv"},
		{name: "empty file", flags: secretFlags{file: empty}, err: "is empty"},
		{name: "two lines", flags: secretFlags{file: twoLines}, err: "more than one line"},
		{name: "missing file", flags: secretFlags{file: filepath.Join(dir, "nope")}, err: "no such file"},
		{name: "directory", flags: secretFlags{file: dir}, err: "not a regular file"},
	}
	for _, c := range cases {
		c.flags.env = "EDGENAS_TEST_PW"
		got, err := c.flags.value()
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %q %v, want an error with %q", c.name, got, err, c.err)
		}
	}
}

// TestKeysCACommands: CA init, device issue and password hashing through
// the CLI, with their refusals.
func TestKeysCACommands(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	t.Setenv("EDGENAS_PASSWORD", "pw1")
	steps := []struct {
		name string
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{name: "issue before the CA", args: []string{"keys", "device", "issue", "--dir", dir, "--id", "a1"}, code: 1, want: "keys ca init"},
		{name: "ca init", args: []string{"keys", "ca", "init", "--dir", dir}, want: "CA certificate"},
		{name: "ca init twice", args: []string{"keys", "ca", "init", "--dir", dir}, code: 1, want: "already exists"},
		{name: "agent", args: []string{"keys", "device", "issue", "--dir", dir, "--id", "a1", "--json"}, want: `"role": "agent"`},
		{name: "host under an agent's name", args: []string{"keys", "device", "issue", "--dir", dir, "--id", "a1", "--role", "host"}, code: 2, want: "already issued as agent"},
		{name: "server needs --host", args: []string{"keys", "device", "issue", "--dir", dir, "--id", "b", "--role", "server"}, code: 2, want: "--host"},
		{name: "server", args: []string{"keys", "device", "issue", "--dir", dir, "--id", "b", "--role", "server", "--host", "127.0.0.1"}, want: "server certificate"},
		{name: "password", args: []string{"keys", "password", "--users", users, "--name", "a1"}, want: "added agent account"},
		{name: "password replaced", args: []string{"keys", "password", "--users", users, "--name", "a1"}, want: "replaced agent account"},
		{name: "bad role", args: []string{"keys", "password", "--users", users, "--name", "x", "--role", "root"}, code: 1, want: "role"},
	}
	for _, s := range steps {
		code, stdout, stderr := runCLI(t, s.args...)
		out := stdout
		if s.code != 0 {
			out = stderr
		}
		if code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", s.name, code, s.code, s.want, stdout, stderr)
		}
	}
	for _, p := range []string{filepath.Join(dir, "a1", "a1.key"), filepath.Join(dir, "ca", "ca.key"), users} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, st.Mode(), err)
		}
	}
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "pw1") || !strings.Contains(string(b), "agent a1 $2") {
		t.Fatalf("users file holds the password or no hash:\n%s", b)
	}
	// A users file with a plain password is refused by the broker.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("agent a1 pw1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "broker", "--listen", "127.0.0.1:0", "--users", plain)
	if code == 0 || !strings.Contains(stderr, "not a bcrypt hash") {
		t.Fatalf("broker with a plain users file: exit %d: %s", code, stderr)
	}
}

// TestFirmwareInstallCarriesTLS: `firmware install --tls-dir` puts the
// device's certificate bundle into DATA/tls (key 0600) and the agent's
// --tls-* flags into start.sh; the adb plan pushes the files before the
// device-side install that uses them.
func TestFirmwareInstallCarriesTLS(t *testing.T) {
	keys := t.TempDir()
	if code, _, errb := runCLI(t, "keys", "ca", "init", "--dir", keys); code != 0 {
		t.Fatal(errb)
	}
	bundleDir := filepath.Join(keys, "d1")
	if code, _, errb := runCLI(t, "keys", "device", "issue", "--dir", keys, "--id", "d1", "--out", bundleDir); code != 0 {
		t.Fatal(errb)
	}
	here := testBundle(t, keys, goruntime.GOOS+"/"+goruntime.GOARCH, 3)
	data := filepath.Join(t.TempDir(), "data")
	code, out, errb := runCLI(t, "firmware", "install", "--bundle", here, "--dir", data, "--keys", keys, "--tls-dir", bundleDir,
		"--agent-args", "--broker mqtts://h:8883 --id d1")
	if code != 0 {
		t.Fatalf("install: %d %s%s", code, out, errb)
	}
	if st, err := os.Stat(filepath.Join(data, "tls", "d1.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("DATA/tls/d1.key: %v %v", st.Mode(), err)
	}
	script, err := os.ReadFile(filepath.Join(data, "start.sh"))
	if err != nil || !strings.Contains(string(script), "--tls-cert "+filepath.Join(data, "tls", "d1.crt")) {
		t.Fatalf("start.sh: %v\n%s", err, script)
	}
	code, _, errb = runCLI(t, "firmware", "install", "--bundle", here, "--dir", t.TempDir(), "--keys", keys, "--tls-dir", bundleDir,
		"--agent-args", "--id d2")
	if code == 0 || !strings.Contains(errb, "d2.crt") {
		t.Fatalf("another device's id accepted: %d %s", code, errb)
	}
	phone := testBundle(t, keys, "android/arm64", 3)
	code, out, errb = runCLI(t, "firmware", "install", "--bundle", phone, "--adb", "S1", "--keys", keys, "--tls-dir", bundleDir, "--dry-run",
		"--agent-args", "--broker mqtts://h:8883 --id d1")
	if code != 0 {
		t.Fatalf("adb dry run: %d %s%s", code, out, errb)
	}
	push := strings.Index(out, "adb -s S1 push "+filepath.Join(bundleDir, "d1.key")+" /data/local/tmp/edgenas/tls/d1.key")
	install := strings.Index(out, "--tls-dir /data/local/tmp/edgenas/tls")
	if push < 0 || install < push || !strings.Contains(out, "chmod 600 /data/local/tmp/edgenas/tls/d1.key") {
		t.Fatalf("adb plan does not push the key before the install that uses it:\n%s", out)
	}
}
