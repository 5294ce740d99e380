package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
	"edgenas/fleet/rollout"
	"edgenas/fleet/serve"
	"edgenas/internal/chart"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/searcher"
)

func TestMain(m *testing.M) {
	fleettest.AgentMain(nil)
	os.Exit(m.Run())
}

// browser is a headless Debian chromium driven over the DevTools protocol,
// collecting every console error and uncaught exception of the pages.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// startBrowser starts chromium with a fresh profile. It skips the test only
// when chromium is not installed or cannot start here, except under CI=true
// where a chromium that is installed but fails is a failure.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make deps installs Debian's chromium): no browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(b.record))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b.ctx = ctx
	// The first call starts chromium; it must not carry a timeout (that
	// would stop the browser), so the tests bound each step instead.
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium %s is installed but does not start: %v", bin, err)
		}
		t.Skipf("chromium %s cannot start here: %v", bin, err)
	}
	return b
}

// record keeps console errors, uncaught exceptions and error log entries
// (failed loads, CSP violations); it runs on chromedp's reading goroutine.
func (b *browser) record(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value))
			}
			msg = "console.error " + strings.Join(parts, " ")
		}
	case *runtime.EventExceptionThrown:
		msg = "exception " + e.ExceptionDetails.Text
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			msg = "log " + e.Entry.Text + " " + e.Entry.URL
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}
}

// consoleErrors returns and forgets the errors seen so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errors
	b.errors = nil
	return e
}

// text loads url and returns the text of the page's main element.
func (b *browser) text(t *testing.T, url string) string {
	t.Helper()
	return b.textOf(t, url, "live")
}

// textOf loads url and returns the text of the element with id.
func (b *browser) textOf(t *testing.T, url, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.ID("live"))); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return s
}

// screenshot saves the viewport as PNG into EDGENAS_SCREENSHOTS (the docs'
// screenshots are made this way) or the test's temporary directory.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("EDGENAS_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dashboardData writes a small latency table, a `lut validate` scatter and
// a search run for serve's --lut, --lut-validate and --runs.
func dashboardData(t *testing.T) (lutPath, validate, runs string) {
	t.Helper()
	dir := t.TempDir()
	lutPath = filepath.Join(dir, "lut.db")
	st, err := lut.Open(lutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var es []lut.Entry
	for _, dev := range []string{"a1", "a2"} {
		if err := st.PutDevice(lut.Device{ID: dev, Class: "pi4"}); err != nil {
			t.Fatal(err)
		}
		for i, c := range []int{16, 32, 64, 128} {
			us := float64(200*(i+1)) * map[string]float64{"a1": 1, "a2": 1.3}[dev]
			es = append(es, lut.Entry{Device: dev, Backend: "ref", Threads: 1, Key: fmt.Sprintf("conv-k3-c%d", c),
				Stats: profiler.Stats{Count: 20, Min: us, P10: us, P50: us, P90: us, Max: us, Mean: us}, CIRel: 0.02,
				MeasuredAt: time.Now().UTC(), ToolVersion: "test"})
		}
	}
	if err := st.Put(es...); err != nil {
		t.Fatal(err)
	}
	validate = filepath.Join(dir, "validate")
	runs = filepath.Join(dir, "runs")
	run := filepath.Join(runs, "spnas-2ms")
	for _, d := range []string{validate, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pred, meas := []float64{1, 2, 3, 4}, []float64{1.1, 1.9, 3.2, 4.1}
	if err := (chart.Figure{Title: "predicted vs measured", XLabel: "predicted ms", YLabel: "measured ms", Identity: true,
		Series: []chart.Series{{Name: "models", X: pred, Y: meas}}}).Save(filepath.Join(validate, "scatter.png")); err != nil {
		t.Fatal(err)
	}
	if err := (chart.Figure{Title: "search progress", XLabel: "step", YLabel: "predicted ms", HLines: []chart.Ref{{Label: "target", Y: 2}},
		Series: []chart.Series{{Name: "predicted", X: []float64{1, 2, 3, 4}, Y: []float64{3.5, 2.6, 2.1, 1.9}, Line: true}}}).Save(
		filepath.Join(run, "progress.png")); err != nil {
		t.Fatal(err)
	}
	if err := searcher.WriteCandidates(run, searcher.RunCandidates{Method: "spnas", Space: "fmnist", TargetMS: 2, Seed: 1,
		SearchSeconds: 12.5, Candidates: []searcher.RunCandidate{{Arch: "conv-k3-c16|conv-k3-c32", PredictedMS: 1.9},
			{Arch: "conv-k3-c16|conv-k3-c64", PredictedMS: 2.4}}}); err != nil {
		t.Fatal(err)
	}
	return lutPath, validate, runs
}

// TestDashboardInBrowser drives the dashboard of a real serve, with a real
// broker and two agent processes, in headless chromium: every page loads
// without console errors, the fleet page shows both agents, a rollout's
// devices change state on its page, and the abort needs the credential.
func TestDashboardInBrowser(t *testing.T) {
	br := startBrowser(t)
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	key := fleettest.NewKey(t)
	lutPath, validate, runs := dashboardData(t)
	c := startServeWith(t, b, key, t.TempDir(), func(cfg *serve.Config) {
		cfg.LUT, cfg.LUTValidate, cfg.Runs = lutPath, validate, runs
	})
	ctx := context.Background()
	for _, id := range []string{"a1", "a2"} {
		fleettest.StartAgent(t, fleettest.AgentSpec{Broker: b.URL(), ID: id, DataDir: t.TempDir(), Trust: key.PublicFile})
	}
	fleettest.Eventually(t, 20*time.Second, "both agents online on the fleet page", func() bool {
		s := br.text(t, c.API+"/")
		return strings.Count(s, "online") >= 2 && strings.Contains(s, "a1") && strings.Contains(s, "a2")
	})

	// A rollout registered as `deploy` registers it: the page follows its
	// devices from pending or sent to committed.
	r := plan(t, c, key, writeModel(t, "fc-input:512-output:10"), "fmnist", 1, "a1", "a2")
	if _, err := c.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	states := map[string]bool{}
	fleettest.Eventually(t, 30*time.Second, "both devices committed on the rollout page", func() bool {
		s := br.textOf(t, c.API+"/rollouts/"+r.ID, "rollout-devices")
		for _, st := range append(proto.InstallStates(), rollout.DevicePending, rollout.DeviceSent) {
			if strings.Contains(s, st) {
				states[st] = true
			}
		}
		return strings.Count(s, proto.InstallCommitted) == 2
	})
	if len(states) < 2 {
		t.Errorf("the rollout page showed only the states %v: no change seen", states)
	}
	br.screenshot(t, "rollout")
	if s := br.text(t, c.API+"/"); !strings.Contains(s, "fmnist v1") || !strings.Contains(s, "a1") || !strings.Contains(s, "a2") {
		t.Errorf("the fleet page does not show both agents with the installed model:\n%s", s)
	}
	br.screenshot(t, "fleet")

	// A rollout to a device that never answers stays running until aborted.
	stuck := plan(t, c, key, writeModel(t, "fc-input:256-output:10"), "fmnist", 2, "ghost")
	if _, err := c.Register(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	page := c.API + "/rollouts/" + stuck.ID
	if s := br.text(t, page); !strings.Contains(s, "Log in with the host credential") {
		t.Fatalf("abort offered without a login:\n%s", s)
	}
	status, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch(%q, {method: "POST", body: new URLSearchParams({csrf: "x", reason: "forged"})}).then(r => r.status)`,
		page+"/abort"), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != 401 {
		t.Errorf("abort without a login: status %d, want 401", status)
	}
	br.consoleErrors() // the refused fetch logs its 401
	step, stepDone := context.WithTimeout(br.ctx, 20*time.Second)
	defer stepDone()
	if err := chromedp.Do(step, chromedp.Navigate(c.API+"/login?next=/rollouts/"+stuck.ID),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), fleettest.Host.Password),
		chromedp.Submit(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("abort"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	if err := chromedp.Do(step, chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "wrong model"),
		chromedp.Submit(chromedp.ID("abort")), chromedp.WaitVisible(chromedp.CSS(".notice"))); err != nil {
		t.Fatalf("abort: %v", err)
	}
	fleettest.Eventually(t, 20*time.Second, "the rollout to show aborted", func() bool {
		s := br.text(t, page)
		return strings.Contains(s, "aborted by operator: wrong model")
	})

	// The error collection itself works: a console.error is seen.
	if _, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](`console.error("probe"), true`)); err != nil {
		t.Fatal(err)
	}
	fleettest.Eventually(t, 5*time.Second, "the probe console error to be recorded", func() bool {
		br.mu.Lock()
		defer br.mu.Unlock()
		return len(br.errors) > 0 && strings.Contains(strings.Join(br.errors, " "), "probe")
	})
	br.consoleErrors()
	for _, p := range []struct{ path, shot string }{{"/", ""}, {"/devices/a1", ""}, {"/rollouts/", ""}, {"/luts", "lut"},
		{"/searches/", ""}, {"/searches/spnas-2ms", "search"}, {"/login", ""}} {
		br.text(t, c.API+p.path)
		if p.shot != "" {
			br.screenshot(t, p.shot)
		}
	}
	if errs := br.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}

	// The metrics count what the pages show.
	resp, err := http.Get(c.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`edgenas_devices{class="default",state="online"} 2`, `edgenas_rollouts{phase="done"} 1`,
		`edgenas_rollouts{phase="aborted"} 1`, "edgenas_install_health_check_ms_count 2", `edgenas_agent_messages_total{kind="install"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestListenOffLoopbackNeedsTLS: serve refuses to put its pages on the
// network without TLS and a login.
func TestListenOffLoopbackNeedsTLS(t *testing.T) {
	key := fleettest.NewKey(t)
	cases := []struct {
		name string
		cfg  serve.Config
		want string
	}{
		{name: "no TLS", cfg: serve.Config{Listen: "0.0.0.0:0"}, want: "not loopback"},
		{name: "cert without key", cfg: serve.Config{Listen: "0.0.0.0:0", TLSCert: "c.pem"}, want: "both --https-cert and --https-key"},
		{name: "TLS without a credential", cfg: serve.Config{Listen: "0.0.0.0:0", TLSCert: "c.pem", TLSKey: "k.pem"}, want: "needs a login"},
		{name: "missing certificate", cfg: serve.Config{Listen: "0.0.0.0:0", TLSCert: "c.pem", TLSKey: "k.pem",
			Broker: proto.ConnConfig{Password: "pw"}}, want: "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StateDir, tc.cfg.Trust = t.TempDir(), key.Public
			err := serve.Run(context.Background(), tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
