package main

import (
	"path/filepath"
	"strings"
	"testing"

	"edgenas/agent"
	"edgenas/agent/proto"
	"edgenas/fleet/fleettest"
)

// TestDeployByTag: of two agents of one class, `deploy --to tag:soc=x`
// reaches only the one started with that tag; the other never installs.
func TestDeployByTag(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{})
	dir := t.TempDir()
	keys, state := filepath.Join(dir, "keys"), filepath.Join(dir, "state")
	pub, mpath := deployFixture(t, dir, keys)
	agents := map[string]*agent.Agent{}
	for id, tags := range map[string]map[string]string{"pi-plain": nil, "pi-tagged": {"soc": "x", "rack": "r1"}} {
		agents[id], _ = runTaggedAgent(t, b.URL(), pub, id, "pi", filepath.Join(dir, id), tags)
	}
	waitAgents(t, b.URL(), proto.StateOnline, "pi-plain", "pi-tagged")

	hostArgs := []string{"--broker", b.URL(), "--password", fleettest.Host.Password, "--state", state, "--wait", "500ms", "--keys", keys}
	tests := []struct {
		name string
		to   string
		code int
		want string // in stderr
	}{
		{name: "malformed tag", to: "tag:soc", code: 2, want: "want KEY=VALUE"},
		{name: "bad value", to: "tag:soc=a+b", code: 2, want: "value"},
		{name: "no agent tagged", to: "tag:soc=y", code: 2, want: "no agent tagged soc=y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append([]string{"deploy", "--model", mpath, "--to", tc.to, "--timeout", "30s"}, hostArgs...)...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("deploy --to %s: exit %d, stderr %q; want failure naming %q", tc.to, code, errs, tc.want)
			}
		})
	}

	code, out, errs := runCLI(t, append([]string{"deploy", "--model", mpath, "--to", "tag:soc=x", "--timeout", "30s", "--json"}, hostArgs...)...)
	if code != 0 {
		t.Fatalf("deploy --to tag:soc=x: exit %d\n%s\n%s", code, errs, out)
	}
	s := parseStatus(t, out)
	if s.Phase != "done" || len(s.Devices) != 1 || s.Devices[0].Agent != "pi-tagged" || s.Devices[0].State != proto.InstallCommitted {
		t.Fatalf("deploy --to tag:soc=x: %+v; want only pi-tagged, committed", s)
	}
	if v, err := agents["pi-tagged"].Models().Committed("fmnist"); err != nil || v != 1 {
		t.Errorf("pi-tagged: committed %d (%v), want 1", v, err)
	}
	if v, _ := agents["pi-plain"].Models().Committed("fmnist"); v != 0 {
		t.Errorf("pi-plain: committed version %d, want none: it lacks the tag", v)
	}
}

// TestTagFlagErrors: a malformed --tag is a usage error naming the tag.
func TestTagFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "agent no value", args: []string{"agent", "--broker", "tcp://127.0.0.1:1", "--id", "a", "--tag", "soc"}, want: "want KEY=VALUE"},
		{name: "agent bad key", args: []string{"agent", "--broker", "tcp://127.0.0.1:1", "--id", "a", "--tag", "s/c=x"}, want: `tag key "s/c"`},
		{name: "agent repeated", args: []string{"agent", "--broker", "tcp://127.0.0.1:1", "--id", "a", "--tag", "soc=x", "--tag", "soc=y"},
			want: "soc given twice"},
		{name: "profile bad value", args: []string{"fleet", "profile", "--class", "pi", "--out", "x.db", "--tag", "soc=a b"},
			want: `value "a b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("edgenas %v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
			}
		})
	}
}
