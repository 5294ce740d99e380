package install

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/profiler"
	"edgenas/runtime/backends"
	"edgenas/space"
	"edgenas/tflite"
)

// fixture is a host key, an artifact server and an agent data dir.
type fixture struct {
	t     *testing.T
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	dir   string
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte // served at /artifacts/<name>
	reqs  []string          // Range header of every request ("" for none)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kd := t.TempDir()
	pub, err := signing.GenerateKey(kd, false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.LoadPrivate(filepath.Join(kd, signing.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, key: key, pub: pub, dir: t.TempDir(), files: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Header.Get("Range"))
		b, ok := f.files[strings.TrimPrefix(r.URL.Path, "/artifacts/")]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "a", time.Time{}, strings.NewReader(string(b)))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// testModel builds a small int8 model (a fully connected layer: 10 outputs,
// so top-1 means something) and its expected output on the ref backend.
func testModel(t *testing.T, key string) ([]byte, []byte) {
	t.Helper()
	l, err := space.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := profiler.LayerModel(l)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tflite.Write(m)
	if err != nil {
		t.Fatal(err)
	}
	be, _ := backends.Lookup("ref")
	out, err := FixedOutput(be, m, 42)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

func shaHex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// serve publishes body under its sha256 and returns a manifest for it.
func (f *fixture) serve(name string, version uint64, body, expected []byte) proto.Manifest {
	sha := shaHex(body)
	f.mu.Lock()
	f.files[sha] = body
	f.mu.Unlock()
	return proto.Manifest{Kind: proto.ManifestModel, Name: name, Version: version, Size: int64(len(body)), SHA256: sha,
		URL: f.srv.URL + "/artifacts/" + sha, InputSeed: 42, Expected: expected, MaxDiff: 1, Created: time.Now().UTC()}
}

func (f *fixture) sign(m proto.Manifest) []byte {
	env, err := signing.SignJSON(f.key, m)
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

// agent is one Manager with the model installer and a report log.
type agent struct {
	m       *Manager
	models  *Models
	mu      sync.Mutex
	reports []proto.Install
	cancel  context.CancelFunc
	done    chan struct{}
}

func (f *fixture) start(trust ed25519.PublicKey, pause func(string)) *agent {
	f.t.Helper()
	a := &agent{done: make(chan struct{})}
	models, err := NewModels(ModelsConfig{Dir: f.dir, Backend: "ref", Backoff: 10 * time.Millisecond,
		Protocol: profiler.Protocol{MinRuns: 6, MaxSecs: 0.2, RelTol: 0.5, Level: 0.9}})
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := NewManager(managerConfig(f.dir, trust, pause, func(r *proto.Install) {
		// Every report must pass the wire validation the host applies.
		b, err := proto.Encode(r)
		if err == nil {
			_, err = proto.Decode(proto.Topic("a1", proto.KindInstall), b)
		}
		if err != nil {
			f.t.Errorf("invalid report %+v: %v", r, err)
		}
		a.mu.Lock()
		a.reports = append(a.reports, *r)
		a.mu.Unlock()
	}))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := m.Register(proto.ManifestModel, models); err != nil {
		f.t.Fatal(err)
	}
	if err := m.Register(proto.ManifestModel, models); err == nil {
		f.t.Fatal("a kind registered twice")
	}
	a.m, a.models = m, models
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { defer close(a.done); m.Run(ctx) }()
	f.t.Cleanup(a.stop)
	return a
}

func (a *agent) stop() {
	a.cancel()
	<-a.done
}

func managerConfig(dir string, trust ed25519.PublicKey, pause func(string), report func(*proto.Install)) Config {
	return Config{Dir: dir, Agent: "a1", AgentVersion: "1.2.0", Trust: trust, Report: report, Pause: pause}
}

// final waits for the n-th final report (1-based) and returns it.
func (a *agent) final(t *testing.T, n int) proto.Install {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		k := 0
		for _, r := range a.reports {
			if proto.IsFinalInstall(r.State) {
				k++
				if k == n {
					a.mu.Unlock()
					return r
				}
			}
		}
		a.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no final report #%d; reports: %+v", n, a.states())
	return proto.Install{}
}

func (a *agent) states() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s []string
	for _, r := range a.reports {
		if len(s) == 0 || s[len(s)-1] != r.State {
			s = append(s, r.State)
		}
	}
	return s
}

func (a *agent) deploy(rollout string, env []byte) {
	a.m.Submit(&proto.Deploy{Rollout: rollout, Manifest: env})
}

func mustCheck(t *testing.T, s *Models, name string, wantCur uint64) {
	t.Helper()
	cur, vs, err := s.Check(name)
	if err != nil {
		t.Fatalf("store inconsistent: %v", err)
	}
	if cur != wantCur {
		t.Fatalf("current = %d (versions %v), want %d", cur, vs, wantCur)
	}
}

func TestInstallCommitAndRefusals(t *testing.T) {
	f := newFixture(t)
	body, exp := testModel(t, "fc-input:16-output:10")
	a := f.start(f.pub, nil)
	good2 := f.serve("m", 2, body, exp)
	a.deploy("r1", f.sign(good2))
	if r := a.final(t, 1); r.State != proto.InstallCommitted || r.LatencyMS <= 0 {
		t.Fatalf("first install: %+v (states %v)", r, a.states())
	}
	want := []string{proto.InstallReceived, proto.InstallDownloading, proto.InstallVerifying, proto.InstallInstalling,
		proto.InstallChecking, proto.InstallCommitted}
	if got := a.states(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("states %v, want %v", got, want)
	}
	mustCheck(t, a.models, "m", 2)

	otherDir := t.TempDir()
	otherPub, _ := signing.GenerateKey(otherDir, false)
	otherKey, _ := signing.LoadPrivate(filepath.Join(otherDir, signing.PrivateFile))
	_ = otherPub
	tampered := f.sign(f.serve("m", 3, body, exp))
	var env signing.Envelope
	json.Unmarshal(tampered, &env)
	env.Payload[len(env.Payload)/2] ^= 0x01
	tamperedB, _ := json.Marshal(env)
	wrongKey, _ := signing.SignJSON(otherKey, f.serve("m", 3, body, exp))
	short := f.serve("m", 3, body, exp) // the server holds a truncated artifact
	f.mu.Lock()
	f.files["short"] = body[:len(body)/2]
	f.mu.Unlock()
	short.URL = f.srv.URL + "/artifacts/short"
	wrongSHA := f.serve("m", 3, body, exp)
	wrongSHA.SHA256 = strings.Repeat("0", 64)
	f.mu.Lock()
	f.files[wrongSHA.SHA256] = body
	f.mu.Unlock()
	wrongSHA.URL = f.srv.URL + "/artifacts/" + wrongSHA.SHA256
	newer := f.serve("m", 3, body, exp)
	newer.MinAgentVersion = "2.0"
	agentKind := f.serve("fw", 1, body, nil)
	agentKind.Kind, agentKind.Target = proto.ManifestAgent, "linux/arm64"
	full := f.sign(f.serve("m", 3, body, exp))
	otherBody, otherExp := testModel(t, "fc-input:32-output:10")
	cases := []struct {
		name   string
		env    []byte
		state  string
		reason string
	}{
		{"wrong key", wrongKey, proto.InstallRefused, "signature: signed by another key"},
		{"tampered byte", tamperedB, proto.InstallRefused, "bad signature"},
		{"truncated manifest", full[:len(full)-9], proto.InstallRefused, "malformed"},
		{"truncated artifact", f.sign(short), proto.InstallRefused, "size:"},
		{"wrong sha256", f.sign(wrongSHA), proto.InstallRefused, "sha256 mismatch"},
		{"replayed old version", f.sign(f.serve("m", 1, body, exp)), proto.InstallRefused, "replayed version 1 <= installed 2"},
		{"agent too old", f.sign(newer), proto.InstallRefused, "older than the required 2.0"},
		{"no installer for kind", f.sign(agentKind), proto.InstallRefused, `no installer for kind "agent"`},
		{"re-delivered committed", f.sign(good2), proto.InstallCommitted, ""},
		{"same version, other bytes", f.sign(f.serve("m", 2, otherBody, otherExp)), proto.InstallRefused, "never reused for other bytes"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.deploy("r"+string(rune('a'+i)), c.env)
			r := a.final(t, i+2)
			if r.State != c.state || !strings.Contains(r.Reason, c.reason) {
				a.mu.Lock()
				for _, x := range a.reports {
					t.Logf("%s %d %s %q", x.Rollout, x.Version, x.State, x.Reason)
				}
				a.mu.Unlock()
				t.Fatalf("got %s %q, want %s mentioning %q", r.State, r.Reason, c.state, c.reason)
			}
			mustCheck(t, a.models, "m", 2)
		})
	}
	if ps, _ := filepath.Glob(filepath.Join(a.models.Root(), PartialDir, "*")); len(ps) != 0 {
		t.Errorf("bad partial downloads kept: %v", ps)
	}
}

func TestNoTrustedKey(t *testing.T) {
	f := newFixture(t)
	body, exp := testModel(t, "fc-input:16-output:10")
	a := f.start(nil, nil)
	a.deploy("r1", f.sign(f.serve("m", 1, body, exp)))
	if r := a.final(t, 1); r.State != proto.InstallRefused || r.Reason != "no trusted key configured" {
		t.Fatalf("got %+v", r)
	}
}

func TestHealthCheckFailureRollsBack(t *testing.T) {
	f := newFixture(t)
	body1, exp1 := testModel(t, "fc-input:16-output:10")
	body2, exp2 := testModel(t, "fc-input:32-output:10")
	a := f.start(f.pub, nil)
	a.deploy("r1", f.sign(f.serve("m", 1, body1, exp1)))
	if r := a.final(t, 1); r.State != proto.InstallCommitted {
		t.Fatalf("v1: %+v", r)
	}
	// v2's manifest expects a different top-1 than the model computes.
	bad := append([]byte(nil), exp2...)
	top := argmax(bad)
	bad[(top+1)%len(bad)] = 127
	bad[top] = 0x80
	a.deploy("r2", f.sign(f.serve("m", 2, body2, bad)))
	r := a.final(t, 2)
	if r.State != proto.InstallRolledBack || !strings.Contains(r.Reason, "health check: top-1") {
		t.Fatalf("v2: %+v", r)
	}
	mustCheck(t, a.models, "m", 1)
	if _, err := os.Stat(a.models.versionDir("m", 2)); !os.IsNotExist(err) {
		t.Errorf("rolled-back version dir still there: %v", err)
	}
	// The retained Deploy comes again: the same verdict, no new install.
	a.deploy("r2b", f.sign(f.serve("m", 2, body2, bad)))
	if r := a.final(t, 3); r.State != proto.InstallRolledBack || !strings.Contains(r.Reason, "top-1") {
		t.Fatalf("re-delivered v2: %+v", r)
	}
	// A within-tolerance difference passes; one beyond MaxDiff does not.
	off := append([]byte(nil), exp2...)
	i := (argmax(off) + 1) % len(off)
	off[i] = byte(int8(off[i]) - 3)
	m3 := f.serve("m", 3, body2, off)
	m3.MaxDiff = 2
	a.deploy("r3", f.sign(m3))
	if r := a.final(t, 4); r.State != proto.InstallRolledBack || !strings.Contains(r.Reason, "differs by 3 quanta") {
		t.Fatalf("v3: %+v", r)
	}
	m4 := f.serve("m", 4, body2, off)
	m4.MaxDiff = 3
	a.deploy("r4", f.sign(m4))
	if r := a.final(t, 5); r.State != proto.InstallCommitted {
		t.Fatalf("v4: %+v", r)
	}
	mustCheck(t, a.models, "m", 4)
	// Expected computed on another backend: only the top-1 class is held
	// (rounding differs between backends); a wrong top-1 still fails.
	m5 := f.serve("m", 5, body2, off)
	m5.MaxDiff, m5.Backend = 2, "xnnpack"
	a.deploy("r5", f.sign(m5))
	if r := a.final(t, 6); r.State != proto.InstallCommitted {
		t.Fatalf("v5 (expected from another backend, 3 quanta off): %+v", r)
	}
	m6 := f.serve("m", 6, body2, bad)
	m6.Backend = "xnnpack"
	a.deploy("r6", f.sign(m6))
	if r := a.final(t, 7); r.State != proto.InstallRolledBack || !strings.Contains(r.Reason, "top-1") {
		t.Fatalf("v6 (other backend, wrong top-1): %+v", r)
	}
}

// TestCrashRecovery freezes an install at each kill point (the goroutine
// exits there, leaving the disk as a SIGKILL would), then starts a fresh
// manager on the same data dir, which must finish the install.
func TestCrashRecovery(t *testing.T) {
	for _, point := range []string{proto.InstallDownloading, proto.InstallInstalling, proto.InstallChecking} {
		t.Run(point, func(t *testing.T) {
			f := newFixture(t)
			body1, exp1 := testModel(t, "fc-input:16-output:10")
			body2, exp2 := testModel(t, "fc-input:32-output:10")
			a := f.start(f.pub, nil)
			a.deploy("r1", f.sign(f.serve("m", 1, body1, exp1)))
			a.final(t, 1)
			a.stop()
			frozen := make(chan struct{})
			b := f.start(f.pub, func(p string) {
				if p == point {
					close(frozen)
					runtime.Goexit()
				}
			})
			b.deploy("r2", f.sign(f.serve("m", 2, body2, exp2)))
			<-frozen
			if _, err := os.Stat(filepath.Join(f.dir, "models", "m", JournalFile)); err != nil {
				t.Fatalf("no journal at the kill point: %v", err)
			}
			c := f.start(f.pub, nil)
			r := c.final(t, 1)
			if r.State != proto.InstallCommitted || r.Version != 2 || r.Rollout != "r2" {
				t.Fatalf("recovered install: %+v (states %v)", r, c.states())
			}
			mustCheck(t, c.models, "m", 2)
		})
	}
}

// TestRecoveryEdgeCases: a journal whose manifest no longer verifies is
// rolled back, and so is a version whose health check was interrupted twice.
func TestRecoveryEdgeCases(t *testing.T) {
	cases := []struct {
		name   string
		point  string
		freeze int // managers frozen at point before the final one
		tamper bool
		want   string
	}{
		{"tampered journal", proto.InstallInstalling, 1, true, "recovery: journal: signature: bad signature"},
		{"health check interrupted twice", proto.InstallChecking, 2, false, "health check interrupted 2 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			body1, exp1 := testModel(t, "fc-input:16-output:10")
			body2, exp2 := testModel(t, "fc-input:32-output:10")
			a := f.start(f.pub, nil)
			a.deploy("r1", f.sign(f.serve("m", 1, body1, exp1)))
			a.final(t, 1)
			a.stop()
			env2 := f.sign(f.serve("m", 2, body2, exp2))
			for i := 0; i < c.freeze; i++ {
				frozen := make(chan struct{})
				b := f.start(f.pub, func(p string) {
					if p == c.point {
						close(frozen)
						runtime.Goexit()
					}
				})
				if i == 0 {
					b.deploy("r2", env2)
				}
				<-frozen
			}
			if c.tamper {
				jp := filepath.Join(f.dir, "models", "m", JournalFile)
				var j journal
				b, _ := os.ReadFile(jp)
				json.Unmarshal(b, &j)
				var e signing.Envelope
				json.Unmarshal(j.Envelope, &e)
				e.Payload = []byte(strings.Replace(string(e.Payload), `"max_diff":1`, `"max_diff":99`, 1))
				j.Envelope, _ = json.Marshal(e)
				b, _ = json.Marshal(j)
				os.WriteFile(jp, b, 0o644)
			}
			c2 := f.start(f.pub, nil)
			r := c2.final(t, 1)
			if r.State != proto.InstallRolledBack || !strings.Contains(r.Reason, c.want) {
				t.Fatalf("got %s %q, want rolled_back mentioning %q", r.State, r.Reason, c.want)
			}
			mustCheck(t, c2.models, "m", 1)
		})
	}
}

func TestCompareOutput(t *testing.T) {
	cases := []struct {
		got, want []byte
		maxDiff   int
		err       string
	}{
		{[]byte{1, 5, 2}, []byte{1, 5, 2}, 0, ""},
		{[]byte{1, 5, 3}, []byte{1, 6, 2}, 1, ""},
		{[]byte{1, 5, 2}, []byte{1, 5}, 1, "3 values, expected 2"},
		{[]byte{9, 5, 2}, []byte{1, 5, 2}, 10, "top-1 0 != expected 1"},
		{[]byte{0x80, 5, 2}, []byte{0x7f, 5, 2}, 10, "top-1 1 != expected 0"}, // int8, not uint8
		{[]byte{1, 9, 5}, []byte{1, 9, 2}, 2, "output 2 differs by 3 quanta"},
		{nil, nil, 0, "empty output"},
	}
	for i, c := range cases {
		err := CompareOutput(c.got, c.want, c.maxDiff)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("case %d: %v, want %q", i, err, c.err)
		}
	}
}

func TestCheckMinVersion(t *testing.T) {
	cases := []struct {
		have, min string
		ok        bool
	}{
		{"1.2.0", "", true}, {"1.2.0", "1.2", true}, {"v1.10.0", "1.9.5", true}, {"1.2.0", "1.3", false},
		{"0.9", "v1.0.0-rc1", false}, {"dev", "1.0", true}, {"1.0", "latest", false},
	}
	for _, c := range cases {
		if err := checkMinVersion(c.have, c.min); (err == nil) != c.ok {
			t.Errorf("checkMinVersion(%q, %q) = %v", c.have, c.min, err)
		}
	}
}
