// Package setup puts a signed agent bundle on a device for the first time:
// it resolves the install's defaults, installs into a local directory, or
// plans the exact adb / ssh commands that do it on a phone or a board and
// runs them. Every way lays the device out the same:
// DATA/firmware/slots/a holds the bundle (the A/B slots of later over-the-air
// updates, firmware/slots), DATA/agent the agent's own state (identity,
// credentials, unacknowledged results), DATA/start.sh starts the supervisor
// from the active slot.
package setup

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"edgenas/firmware/bundle"
	"edgenas/firmware/slots"
	"edgenas/internal/atomicfile"
)

// Step is one command of a remote install, or a description of a local one.
type Step struct {
	Desc string   `json:"desc"`
	Argv []string `json:"argv,omitempty"`
}

// Shell renders a step's argv as a copy-pasteable shell line.
func (s Step) Shell() string {
	q := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Options describe a first install.
type Options struct {
	Bundle string // the .bundle file
	Trust  ed25519.PublicKey
	// AgentArgs are passed to `edgenas agent` on the device (broker, id,
	// class, backend, --trust...); they travel space-separated, so none may
	// contain whitespace.
	AgentArgs []string
	// Deadline is how long an updated agent has to connect and report healthy.
	Deadline string
	// Target, if set, is the GOOS/GOARCH the bundle must be for (a local
	// install checks the machine's own unless told otherwise).
	Target string
	// TLSDir, if set, holds the device's certificate bundle (ca.crt, ID.crt,
	// ID.key from `edgenas keys device issue`); the install copies it into
	// DATA/tls and points the agent's --tls-* flags at it.
	TLSDir string
}

// StartScript is the script that starts the supervisor on the active slot.
// It finds the active slot through DATA/firmware/current (a symlink the
// supervisor switches on every committed update), so it never changes.
func StartScript(data string, m bundle.Manifest, o Options) string {
	cur := path.Join(data, slots.Dir, slots.Current)
	argv := bundle.Command(cur, m)
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Starts the edgenas supervisor from the active A/B slot; it runs and updates the agent.\n")
	b.WriteString("# Written by `edgenas firmware install`.\n")
	fmt.Fprintf(&b, "cd %s || exit 1\n", shellQuote(data))
	b.WriteString("exec")
	for _, a := range argv {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString(" firmware run --data " + shellQuote(data))
	if o.Deadline != "" {
		b.WriteString(" --deadline " + shellQuote(o.Deadline))
	}
	b.WriteString(" --agent-args " + shellQuote(strings.Join(o.AgentArgs, " ")) + "\n")
	return b.String()
}

// Dir installs the bundle into data on this machine: verifies it, unpacks
// it into slot a, and writes the start script. It refuses a data dir that
// already has firmware (updates go over the fleet).
func Dir(data string, o Options) (bundle.Manifest, error) {
	abs, err := filepath.Abs(data)
	if err != nil {
		return bundle.Manifest{}, err
	}
	st, err := slots.Open(abs)
	if err != nil {
		return bundle.Manifest{}, err
	}
	m, err := st.InstallFirst(o.Bundle, o.Trust, o.Target)
	if err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Join(abs, slots.AgentDir), 0o700); err != nil {
		return m, fmt.Errorf("install: %w", err)
	}
	script := filepath.Join(abs, "start.sh")
	if err := atomicfile.WriteFile(script, []byte(StartScript(abs, m, o))); err != nil {
		return m, fmt.Errorf("install: write %s: %w", script, err)
	}
	if err := os.Chmod(script, 0o755); err != nil {
		return m, fmt.Errorf("install: %w", err)
	}
	return m, nil
}

// ADBData is where the agent lives on an Android phone without root.
const ADBData = "/data/local/tmp/edgenas"

// Remote names the files a remote install copies: the bundle, the host's
// public key, and Stage, the bundle unpacked (and so verified) on the host,
// whose own agent binary verifies and installs the bundle again on the
// device (the host's binary is for another architecture).
type Remote struct {
	Stage string
	Trust string // path of host.pub
}

// remoteInstall is the device-side `firmware install --dir` line, run by
// the staged bundle's agent through its loader if it has one.
func remoteInstall(stage, data string, m bundle.Manifest, o Options) string {
	argv := bundle.Command(stage, m, "firmware", "install", "--bundle", stage+".bundle", "--trust", data+"/host.pub", "--dir", data)
	for i := range argv {
		argv[i] = shellQuote(argv[i])
	}
	if o.TLSDir != "" {
		// The files were copied there by the steps before.
		argv = append(argv, shellQuote("--tls-dir"), shellQuote(path.Join(data, TLSDirName)))
	}
	return strings.Join(argv, " ") + installArgs(o)
}

// ADB returns the commands that install the bundle on the phone with the
// given adb serial into ADBData, and start it in the background with nohup
// (the shell user can write /data/local/tmp; no root needed).
func ADB(serial string, r Remote, m bundle.Manifest, o Options) []Step {
	adb := func(a ...string) []string { return append([]string{"adb", "-s", serial}, a...) }
	d := ADBData
	stage := d + "/tmp/stage"
	steps := []Step{
		{Desc: "create the data directory", Argv: adb("shell", "mkdir -p "+d+"/tmp && rm -rf "+stage)},
		{Desc: "push the bundle", Argv: adb("push", o.Bundle, stage+".bundle")},
		{Desc: "push the unpacked bundle (its agent installs it)", Argv: adb("push", r.Stage, stage)},
		{Desc: "push the host's public key", Argv: adb("push", r.Trust, d+"/host.pub")},
	}
	steps = append(steps, tlsSteps(o, d, func(l, r string) []string { return adb("push", l, r) },
		func(c string) []string { return adb("shell", c) })...)
	return append(steps, []Step{
		{Desc: "verify and install into slot a", Argv: adb("shell", "chmod -R 755 "+stage+" && "+remoteInstall(stage, d, m, o))},
		{Desc: "start the supervisor in the background (survives adb disconnect)", Argv: adb("shell", "nohup "+d+"/start.sh >"+d+"/agent.log 2>&1 </dev/null &")},
		{Desc: "check it runs", Argv: adb("shell", "sleep 3; tail -n 5 "+d+"/agent.log")},
	}...)
}

// installArgs renders the agent arguments for a nested `firmware install`.
func installArgs(o Options) string {
	var b strings.Builder
	if o.Deadline != "" {
		b.WriteString(" --deadline " + shellQuote(o.Deadline))
	}
	if len(o.AgentArgs) > 0 {
		b.WriteString(" --agent-args " + shellQuote(strings.Join(o.AgentArgs, " ")))
	}
	return b.String()
}

// Unit is the systemd unit that keeps the supervisor running on a board.
func Unit(user, data string) string {
	return fmt.Sprintf(`[Unit]
Description=edgenas agent (A/B supervised)
After=network-online.target
Wants=network-online.target

[Service]
User=%s
WorkingDirectory=%s
ExecStart=%s/start.sh
Restart=always
RestartSec=5
KillMode=control-group

[Install]
WantedBy=multi-user.target
`, user, data, data)
}

// SSH returns the commands that install the bundle on a Linux board over
// ssh: copy, verify and install into DATA (~USER/edgenas), then a systemd
// unit with Restart=always.
func SSH(target string, r Remote, m bundle.Manifest, o Options) []Step {
	user, _, ok := strings.Cut(target, "@")
	if !ok {
		user = "root"
	}
	d := "/home/" + user + "/edgenas"
	if user == "root" {
		d = "/root/edgenas"
	}
	unit := Unit(user, d)
	stage := d + "/tmp/stage"
	steps := []Step{
		{Desc: "create the data directory", Argv: []string{"ssh", target, "mkdir -p " + d + "/tmp && rm -rf " + stage}},
		{Desc: "copy the bundle", Argv: []string{"scp", "-q", o.Bundle, target + ":" + stage + ".bundle"}},
		{Desc: "copy the unpacked bundle (its agent installs it)", Argv: []string{"scp", "-q", "-r", r.Stage, target + ":" + stage}},
		{Desc: "copy the host's public key", Argv: []string{"scp", "-q", r.Trust, target + ":" + d + "/host.pub"}},
	}
	steps = append(steps, tlsSteps(o, d, func(l, r string) []string { return []string{"scp", "-q", l, target + ":" + r} },
		func(c string) []string { return []string{"ssh", target, c} })...)
	return append(steps, []Step{
		{Desc: "verify and install into slot a", Argv: []string{"ssh", target, remoteInstall(stage, d, m, o)}},
		{Desc: "install the systemd unit (Restart=always) and start it", Argv: []string{"ssh", target,
			"sudo tee /etc/systemd/system/edgenas-agent.service >/dev/null <<'EOF'\n" + unit + "EOF\nsudo systemctl daemon-reload && sudo systemctl enable --now edgenas-agent.service"}},
		{Desc: "check it runs", Argv: []string{"ssh", target, "systemctl --no-pager status edgenas-agent.service | head -n 5"}},
	}...)
}
