package dashboard

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/searcher"
)

// memRollouts is a RolloutSource over a map.
type memRollouts map[string]*rollout.Rollout

func (m memRollouts) List() ([]*rollout.Rollout, error) {
	var out []*rollout.Rollout
	for _, r := range m {
		out = append(out, r)
	}
	return out, nil
}

func (m memRollouts) Load(id string) (*rollout.Rollout, error) {
	r, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("rollout %s: %w", id, os.ErrNotExist)
	}
	return r, nil
}

func fleetOf(n int) *Devices {
	d := NewDevices()
	now := time.Now().UTC()
	for i := range n {
		id := fmt.Sprintf("dev%04d", i)
		class := []string{"pi4", "pixel7"}[i%2]
		d.Observe(&proto.Info{Agent: id, Class: class, AgentVersion: "1.2.0", Backend: "xnnpack", Backends: []string{"ref", "xnnpack"},
			CoreClusters: []profiler.CoreCluster{{MaxMHz: 2400, CPUs: []int{0, 1}}, {MaxMHz: 1800, CPUs: []int{2, 3, 4, 5}}},
			Tags:         map[string]string{"soc": fmt.Sprintf("soc%d", i%2)}}, now)
		st := proto.StateOnline
		if i%3 == 0 {
			st = proto.StateOffline
		}
		d.Observe(&proto.Status{Agent: id, Class: class, State: st, Time: now}, now)
		d.Observe(&proto.Install{Agent: id, Rollout: "r1", Name: "fmnist", Version: 3, State: proto.InstallCommitted, LatencyMS: 1.5}, now)
	}
	return d
}

// writeLUT fills a table with n entries over devices devices.
func writeLUT(t testing.TB, n, devices int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lut.db")
	st, err := lut.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range devices {
		if err := st.PutDevice(lut.Device{ID: fmt.Sprintf("dev%04d", i), Class: []string{"pi4", "pixel7"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	var es []lut.Entry
	for i := range n {
		us := float64(100 + i%97 + 10*(i%devices))
		es = append(es, lut.Entry{Device: fmt.Sprintf("dev%04d", i%devices), Backend: "xnnpack", Threads: 1,
			Key: fmt.Sprintf("conv-k3-c%d", i/devices), Stats: profiler.Stats{Count: 10, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us},
			CIRel: 0.01, Unstable: i%50 == 0, MeasuredAt: time.Now().UTC(), ToolVersion: "test"})
	}
	if err := st.Put(es...); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeRun(t testing.TB, dir, name string) {
	t.Helper()
	rd := filepath.Join(dir, name)
	if err := os.MkdirAll(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := searcher.WriteCandidates(rd, searcher.RunCandidates{Method: "spnas", Space: "fmnist", TargetMS: 2, Seed: 1,
		SearchSeconds: 3, Candidates: []searcher.RunCandidate{{Arch: "c16-c32", PredictedMS: 1.8}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rd, "progress.png"), []byte("\x89PNG\r\n\x1a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testRollout(phase string) *rollout.Rollout {
	return &rollout.Rollout{ID: "fmnist-v3-1", Kind: proto.ManifestModel, Name: "fmnist", Version: 3, Target: "class:pi4",
		Phase: phase, Created: time.Now().UTC(), Devices: []*rollout.Device{
			{Agent: "dev0000", Class: "pi4", Canary: true, State: proto.InstallCommitted, LatencyMS: 1.25},
			{Agent: "dev0002", Class: "pi4", State: proto.InstallRolledBack, Reason: "health check: top-1 7 != 2"}}}
}

type rig struct {
	srv     *httptest.Server
	aborted []string
}

func newRig(t testing.TB, cfg Config) *rig {
	r := &rig{}
	if cfg.Abort == nil {
		cfg.Abort = func(id, reason string) error { r.aborted = append(r.aborted, id+": "+reason); return nil }
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Register(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	runs := t.TempDir()
	writeRun(t, runs, "spnas-2ms")
	if err := os.MkdirAll(filepath.Join(runs, "eval", "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "eval", "accuracy-latency.png"), []byte("\x89PNG"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(runs, "not-a-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	devs := fleetOf(4)
	m := NewMetrics(devs, memRollouts{"fmnist-v3-1": testRollout(rollout.PhaseCanary)})
	r := newRig(t, Config{Devices: devs, Rollouts: memRollouts{"fmnist-v3-1": testRollout(rollout.PhaseCanary)},
		LUT: writeLUT(t, 40, 4), Runs: runs, Metrics: m, Password: "pw"})
	m.Observe(&proto.Ack{Outcome: proto.AckDuplicate})
	m.Observe(&proto.Job{ID: "j", Attempt: 2, Sent: time.Now().Add(-time.Second)})
	m.Observe(&proto.Result{Job: "j", Attempt: 2})
	tests := []struct {
		name   string
		path   string
		status int
		want   []string
	}{
		{name: "fleet", path: "/", status: 200, want: []string{"dev0003", "pixel7", "1.2.0", "xnnpack", "2×2400 MHz", "fmnist v3", "offline", "soc=soc1"}},
		{name: "device", path: "/devices/dev0001", status: 200, want: []string{"Device dev0001", "conv-k3-c", "committed of fmnist v3"}},
		{name: "unknown device", path: "/devices/nope", status: 404, want: []string{"no device"}},
		{name: "bad device id", path: "/devices/a%20b", status: 400, want: []string{"device id"}},
		{name: "rollouts", path: "/rollouts/", status: 200, want: []string{"fmnist-v3-1", "canary", "1/2"}},
		{name: "rollout", path: "/rollouts/fmnist-v3-1", status: 200, want: []string{"rolled_back", "top-1 7 != 2", "1.25 ms", "Log in with the host credential"}},
		{name: "unknown rollout", path: "/rollouts/none", status: 404, want: []string{"no rollout"}},
		{name: "luts", path: "/luts", status: 200, want: []string{"40 entries", "Class pi4: 10 keys", "Widest spread"}},
		{name: "searches", path: "/searches/", status: 200, want: []string{"spnas-2ms", "c16-c32", "1.80 ms",
			`evaluation: <a href="/searches/eval/accuracy-latency.png">`}},
		{name: "search", path: "/searches/spnas-2ms", status: 200, want: []string{"progress.png", "c16-c32"}},
		{name: "run plot", path: "/searches/spnas-2ms/progress.png", status: 200, want: []string{"PNG"}},
		{name: "run file not a plot", path: "/searches/spnas-2ms/secret.txt", status: 404},
		{name: "run escape", path: "/searches/..%2f..%2fetc/passwd", status: 404},
		{name: "static", path: "/static/live.js", status: 200, want: []string{"setInterval"}},
		{name: "metrics", path: "/metrics", status: 200, want: []string{`edgenas_devices{class="pi4",state="offline"} 1`,
			`edgenas_rollouts{phase="canary"} 1`, `edgenas_results_acked_total{outcome="duplicate"} 1`, "edgenas_leases_reissued_total 1",
			"edgenas_job_turnaround_seconds_count 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, r.srv.Client(), r.srv.URL+tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", status, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%.2000s", w, body)
				}
			}
		})
	}
}

// TestAbortNeedsLoginAndCSRF: the abort reaches serve only from a session
// logged in with the host credential, with that session's CSRF token.
func TestAbortNeedsLoginAndCSRF(t *testing.T) {
	r := newRig(t, Config{Rollouts: memRollouts{"fmnist-v3-1": testRollout(rollout.PhaseCanary)}, Password: "host-pw"})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	abort := func(csrf string) int {
		resp, err := c.PostForm(r.srv.URL+"/rollouts/fmnist-v3-1/abort", url.Values{"csrf": {csrf}, "reason": {"bad model"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := abort(""); s != http.StatusUnauthorized {
		t.Errorf("abort without login: %d, want 401", s)
	}
	resp, err := c.PostForm(r.srv.URL+"/login", url.Values{"password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	resp, err = c.PostForm(r.srv.URL+"/login", url.Values{"password": {"host-pw"}, "next": {"/rollouts/fmnist-v3-1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(b), `name="csrf" value="`)
	if resp.StatusCode != 200 || i < 0 {
		t.Fatalf("after login: %d, no CSRF token in the page", resp.StatusCode)
	}
	csrf := string(b[i+len(`name="csrf" value="`):])
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	if s := abort("forged"); s != http.StatusForbidden {
		t.Errorf("abort with a wrong CSRF token: %d, want 403", s)
	}
	if len(r.aborted) != 0 {
		t.Fatalf("aborted without authorization: %v", r.aborted)
	}
	if s := abort(csrf); s != 200 {
		t.Errorf("abort: %d, want 200 after the redirect", s)
	}
	if len(r.aborted) != 1 || r.aborted[0] != "fmnist-v3-1: bad model" {
		t.Errorf("aborted %v", r.aborted)
	}
}

func TestNoPasswordNoLogin(t *testing.T) {
	r := newRig(t, Config{})
	resp, err := r.srv.Client().PostForm(r.srv.URL+"/login", url.Values{"password": {""}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "logins are off") {
		t.Errorf("empty credential: %d %.300s", resp.StatusCode, b)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/rollouts/x": "/rollouts/x", "//evil.example": "/", `/\evil`: "/", "https://x": "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkPages renders the fleet page with 1000 devices and the LUT page
// over 10,000 entries, the latter both with its summary cached and with
// the table changed before every load (the summary read again).
func BenchmarkPages(b *testing.B) {
	lutPath := writeLUT(b, 10000, 20)
	r := newRig(b, Config{Devices: fleetOf(1000), LUT: lutPath})
	for _, tc := range []struct {
		name, path string
		touch      bool
	}{{"fleet-1000-devices", "/", false}, {"lut-10000-entries-cached", "/luts", false}, {"lut-10000-entries-changed", "/luts", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := r.srv.Client()
			p, i := tc.path, 0
			for b.Loop() {
				if tc.touch {
					b.StopTimer()
					i++
					now := time.Unix(1_000_000_000+int64(i), 0)
					if err := os.Chtimes(lutPath, now, now); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				resp, err := c.Get(r.srv.URL + p)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
