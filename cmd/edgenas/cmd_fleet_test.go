package main

import (
	"strings"
	"testing"

	"edgenas/fleet/broker"
)

func TestFleetCommandsHelpAndUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"broker", "--help"}, 0, "Example:", ""},
		{[]string{"agent", "--help"}, 0, "--class", ""},
		{[]string{"fleet", "--help"}, 0, "profile", ""},
		{[]string{"fleet", "profile", "--help"}, 0, "Example:", ""},
		{[]string{"fleet", "list", "--help"}, 0, "--json", ""},
		{[]string{"fleet", "loadtest", "--help"}, 0, "--agents", ""},
		{[]string{"agent", "--id", "x"}, 2, "", "needs --broker and --id"},
		{[]string{"agent", "--broker", "tcp://127.0.0.1:1", "--id", "a/b", "--data-dir", t.TempDir()}, 2, "", "agent id"},
		{[]string{"fleet", "profile", "--class", "c"}, 2, "", "needs --class and --out"},
		{[]string{"fleet", "profile", "--class", "c", "--out", t.TempDir() + "/x.db", "--space", "nope"}, 2, "", "nope"},
		{[]string{"fleet", "loadtest", "--agents", "0"}, 2, "", "at least 1"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
			t.Errorf("edgenas %v: code %d, stdout %q, stderr %q; want code %d, stdout containing %q, stderr containing %q",
				tc.args, code, trunc(out), errs, tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

func TestFleetListAndLoadtest(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Name: "host", Password: "h", Role: broker.RoleHost}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	code, out, errs := runCLI(t, "fleet", "list", "--broker", b.URL(), "--password", "h", "--wait", "100ms", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("fleet list: code %d, out %q, err %q", code, out, errs)
	}
	code, _, errs = runCLI(t, "fleet", "list", "--broker", b.URL(), "--password", "wrong")
	if code != 1 || !strings.Contains(errs, "connect") {
		t.Fatalf("fleet list with a wrong password: code %d, err %q", code, errs)
	}
	code, out, errs = runCLI(t, "fleet", "loadtest", "--agents", "5", "--jobs", "20", "--json")
	if code != 0 || !strings.Contains(out, `"lost": 0`) || !strings.Contains(out, `"entries": 20`) {
		t.Fatalf("fleet loadtest: code %d, out %q, err %q", code, out, errs)
	}
}
