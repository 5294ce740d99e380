package setup

import (
	"bytes"
	"context"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
)

func TestNewLocalDefaults(t *testing.T) {
	data := t.TempDir()
	here := goruntime.GOOS + "/" + goruntime.GOARCH
	tests := []struct {
		name       string
		args       []string
		anyTarget  bool
		wantArgs   []string
		wantTarget string
	}{
		{name: "defaults", args: []string{"--id", "d1"}, wantTarget: here,
			wantArgs: []string{"--data-dir", filepath.Join(data, "agent"), "--id", "d1", "--trust", filepath.Join(data, "host.pub")}},
		{name: "own data dir and trust kept", args: []string{"-data-dir=/x", "--trust", "/k.pub"}, anyTarget: true,
			wantArgs: []string{"-data-dir=/x", "--trust", "/k.pub"}},
		{name: "trust= spelling", args: []string{"--trust=/k.pub"}, wantTarget: here,
			wantArgs: []string{"--data-dir", filepath.Join(data, "agent"), "--trust=/k.pub"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLocal(data, "/keys/host.pub", Options{AgentArgs: tc.args}, tc.anyTarget)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Options.AgentArgs, tc.wantArgs) || l.Options.Target != tc.wantTarget {
				t.Errorf("args %q target %q, want %q %q", l.Options.AgentArgs, l.Options.Target, tc.wantArgs, tc.wantTarget)
			}
			if l.Data != data || l.StartScriptPath() != filepath.Join(data, "start.sh") {
				t.Errorf("data %s, start script %s", l.Data, l.StartScriptPath())
			}
		})
	}
}

func TestRunStopsAtFailure(t *testing.T) {
	steps := []Step{
		{Desc: "first", Argv: []string{"echo", "one"}},
		{Desc: "breaks", Argv: []string{"false"}},
		{Desc: "never", Argv: []string{"echo", "three"}},
	}
	var progress, out bytes.Buffer
	err := Run(context.Background(), steps, &progress, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "step 2 (breaks)") {
		t.Fatalf("error %v, want step 2 named", err)
	}
	if out.String() != "one\n" || !strings.Contains(progress.String(), "[1/3] first\n  echo one") || strings.Contains(progress.String(), "never") {
		t.Errorf("progress %q, output %q", progress.String(), out.String())
	}
	if err := Run(context.Background(), []Step{{Desc: "described only"}}, &progress, &out, &out); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("a step without a command: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, steps[:1], &progress, &out, &out); err == nil {
		t.Error("cancelled context ran a step")
	}
}
