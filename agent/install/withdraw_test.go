package install

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/signing"
)

// TestWithdrawRules: which later message cancels an install waiting on an
// unreachable artifact. A newer version of the same model does (and then
// installs); an older version, another model or a deploy not signed by a
// trusted key do not, and stay queued until the host clears the deploy,
// which cancels the wait and drops them.
func TestWithdrawRules(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/artifacts/"
	ln.Close()
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body, expected := testModel(t, "fc-input:16-output:10")

	cases := []struct {
		name string
		// later builds the deploy sent while version 2 of "m" waits.
		later    func(f *fixture) []byte
		replaces bool
	}{
		{name: "newer version of the same model", replaces: true,
			later: func(f *fixture) []byte { return f.sign(f.serve("m", 3, body, expected)) }},
		{name: "older version of the same model",
			later: func(f *fixture) []byte { return f.sign(f.serve("m", 1, body, expected)) }},
		{name: "another model",
			later: func(f *fixture) []byte { return f.sign(f.serve("other", 5, body, expected)) }},
		{name: "newer version signed by an untrusted key",
			later: func(f *fixture) []byte {
				env, err := signing.SignJSON(forger, f.serve("m", 3, body, expected))
				if err != nil {
					t.Fatal(err)
				}
				return env
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			a := f.start(f.pub, nil)
			waiting := f.serve("m", 2, body, expected)
			waiting.URL = dead + waiting.SHA256
			a.deploy("r-wait", f.sign(waiting))
			waitFor(t, a, "r-wait", proto.InstallDownloading)
			a.deploy("r-later", c.later(f))
			if c.replaces {
				got := a.final(t, 1)
				if got.Rollout != "r-wait" || got.State != proto.InstallCancelled || !strings.Contains(got.Reason, "replaced by version 3") {
					t.Fatalf("first final report %+v, want r-wait cancelled as replaced", got)
				}
				if got := a.final(t, 2); got.Rollout != "r-later" || got.State != proto.InstallCommitted {
					t.Fatalf("second final report %+v, want r-later committed", got)
				}
				return
			}
			// Long enough for the manager to have acted on the later deploy.
			time.Sleep(300 * time.Millisecond)
			a.m.Withdraw()
			got := a.final(t, 1)
			if got.Rollout != "r-wait" || got.State != proto.InstallCancelled || !strings.Contains(got.Reason, "the host cleared it") {
				t.Fatalf("first final report %+v, want r-wait cancelled by the withdrawal", got)
			}
			time.Sleep(300 * time.Millisecond)
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, r := range a.reports {
				if r.Rollout == "r-later" {
					t.Fatalf("the withdrawn queue still ran r-later: %+v", r)
				}
			}
			if cur, err := a.models.Committed("m"); err != nil || cur != 0 {
				t.Fatalf("committed version of m after the cancel: %d, %v; want none", cur, err)
			}
		})
	}
}

// waitFor waits for a report of rollout in state.
func waitFor(t *testing.T, a *agent, rollout, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, r := range a.reports {
			if r.Rollout == rollout && r.State == state {
				a.mu.Unlock()
				return
			}
		}
		a.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s report for %s; reports: %v", state, rollout, a.states())
}
