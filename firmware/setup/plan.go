package setup

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"edgenas/firmware/bundle"
	"edgenas/firmware/slots"
	"edgenas/internal/atomicfile"
	"edgenas/internal/signing"
)

// Local is a first install into a data directory on this machine, with its
// defaults resolved (NewLocal).
type Local struct {
	Data      string // absolute data directory
	TrustFile string // the host.pub the install copies into Data
	Options   Options
}

// NewLocal resolves a local install: data made absolute, the agent's
// --data-dir and --trust pointed into it unless AgentArgs already set them,
// and the bundle held to this machine's GOOS/GOARCH unless anyTarget (a
// device's disk being staged on the host).
func NewLocal(data, trustFile string, o Options, anyTarget bool) (*Local, error) {
	abs, err := filepath.Abs(data)
	if err != nil {
		return nil, fmt.Errorf("install: data directory: %w", err)
	}
	args := append([]string(nil), o.AgentArgs...)
	if !hasFlag(args, "data-dir") {
		args = append([]string{"--data-dir", filepath.Join(abs, slots.AgentDir)}, args...)
	}
	if !hasFlag(args, "trust") {
		args = append(args, "--trust", filepath.Join(abs, signing.PublicFile))
	}
	if o.TLSDir != "" {
		id, err := checkTLSDir(o.TLSDir, args)
		if err != nil {
			return nil, err
		}
		args = withTLSArgs(args, filepath.ToSlash(abs), id)
	}
	o.AgentArgs = args
	if !anyTarget {
		o.Target = goruntime.GOOS + "/" + goruntime.GOARCH
	}
	return &Local{Data: abs, TrustFile: trustFile, Options: o}, nil
}

// hasFlag reports whether args set the flag name, in any of Go's spellings.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// Plan describes what Install would do, without changing anything. It
// verifies the bundle first, so a plan fails where the install would.
func (l *Local) Plan() ([]Step, error) {
	m, err := bundle.VerifyFile(l.Options.Bundle, signing.Only(l.Options.Trust), bundle.Expect{Target: l.Options.Target})
	if err != nil {
		return nil, err
	}
	steps := []Step{
		{Desc: fmt.Sprintf("verify %s and unpack it into %s", l.Options.Bundle, filepath.Join(l.Data, slots.Dir, "slots", slots.SlotA))},
		{Desc: "copy " + l.TrustFile + " to " + filepath.Join(l.Data, signing.PublicFile)},
	}
	if l.Options.TLSDir != "" {
		steps = append(steps, Step{Desc: "copy the device's TLS certificate, key (0600) and CA from " + l.Options.TLSDir + " to " + filepath.Join(l.Data, TLSDirName)})
	}
	return append(steps, []Step{
		{Desc: "write " + l.StartScriptPath() + ":\n" + StartScript(l.Data, m, l.Options)},
	}...), nil
}

// StartScriptPath is the script that starts the installed supervisor.
func (l *Local) StartScriptPath() string { return filepath.Join(l.Data, "start.sh") }

// Install puts the trusted key and the bundle into the data directory (Dir).
func (l *Local) Install() (bundle.Manifest, error) {
	if err := os.MkdirAll(l.Data, 0o755); err != nil {
		return bundle.Manifest{}, fmt.Errorf("install: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(l.Data, signing.PublicFile), signing.EncodePublic(l.Options.Trust)); err != nil {
		return bundle.Manifest{}, fmt.Errorf("install: %w", err)
	}
	if l.Options.TLSDir != "" {
		id, _ := flagValue(l.Options.AgentArgs, "id")
		if err := copyTLS(l.Options.TLSDir, filepath.Join(l.Data, TLSDirName), id); err != nil {
			return bundle.Manifest{}, err
		}
	}
	return Dir(l.Data, l.Options)
}

// stage verifies and unpacks the bundle on the host, into BUNDLE.d next to
// it (so printed commands stay runnable): the device's own agent binary from
// the bundle installs it there, verifying it again. A --tls-dir that does not
// belong to the agent being installed is refused before anything is staged.
func stage(o Options, trustFile string) (Remote, bundle.Manifest, error) {
	r := Remote{Stage: o.Bundle + ".d", Trust: trustFile}
	if o.TLSDir != "" {
		if _, err := checkTLSDir(o.TLSDir, o.AgentArgs); err != nil {
			return r, bundle.Manifest{}, err
		}
	}
	if err := os.RemoveAll(r.Stage); err != nil {
		return r, bundle.Manifest{}, fmt.Errorf("stage %s: %w", o.Bundle, err)
	}
	f, err := os.Open(o.Bundle)
	if err != nil {
		return r, bundle.Manifest{}, fmt.Errorf("stage: %w", err)
	}
	defer f.Close()
	m, err := bundle.Extract(f, signing.Only(o.Trust), bundle.Expect{}, r.Stage)
	if err != nil {
		return r, m, fmt.Errorf("bundle %s: %w", o.Bundle, err)
	}
	return r, m, nil
}

// PlanADB stages the bundle and returns the steps (ADB) that install it on
// the phone with this adb serial. A bundle a phone cannot run is refused.
func PlanADB(serial, trustFile string, o Options) ([]Step, error) {
	r, m, err := stage(o, trustFile)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(m.Target, "android/") && !strings.HasPrefix(m.Target, "linux/arm") {
		return nil, fmt.Errorf("bundle %s is for %s; a phone needs android/arm64 or linux/arm64", o.Bundle, m.Target)
	}
	return ADB(serial, r, m, o), nil
}

// PlanSSH stages the bundle and returns the steps (SSH) that install it on
// the board at USER@HOST.
func PlanSSH(target, trustFile string, o Options) ([]Step, error) {
	r, m, err := stage(o, trustFile)
	if err != nil {
		return nil, err
	}
	return SSH(target, r, m, o), nil
}

// Run executes remote steps in order, announcing each with its shell line
// on progress, and stops at the first that fails.
func Run(ctx context.Context, steps []Step, progress, stdout, stderr io.Writer) error {
	for i, s := range steps {
		if len(s.Argv) == 0 {
			return fmt.Errorf("step %d (%s): no command", i+1, s.Desc)
		}
		fmt.Fprintf(progress, "[%d/%d] %s\n  %s\n", i+1, len(steps), s.Desc, s.Shell())
		cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.Desc, err)
		}
	}
	return nil
}
