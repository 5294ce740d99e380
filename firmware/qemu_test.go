package firmware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/firmware/build"
	"edgenas/firmware/bundle"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
	"edgenas/lut"
	"edgenas/profiler"
	"edgenas/space"
)

// moduleDir is the edgenas module root (this package is one level down).
func moduleDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// TestQEMUArm64Agent cross-compiles the default Android agent (target
// android/arm64, no backend asked: the linux/arm64 XNNPACK build, which an
// Android kernel runs from /data/local/tmp through its bundled loader), bundles
// it with its libraries and loader, and runs it under qemu-aarch64-static
// against the embedded broker, pinned to CPU 0: it must register as arm64,
// complete a small profiling job with XNNPACK, its results must record the
// pinning and be marked as measured under emulation and kept apart (backend
// "xnnpack-emulated") from real ones.
func TestQEMUArm64Agent(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and emulates")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-aarch64-static not installed (Debian qemu-user-static; `make deps-arm64` installs it)")
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		t.Skip("aarch64-linux-gnu-gcc not installed (Debian gcc-aarch64-linux-gnu; `make deps-arm64` installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out := t.TempDir()
	start := time.Now()
	info, err := build.Build(ctx, build.Options{Target: "android/arm64", Version: "qemu-test", OutDir: out, ModuleDir: moduleDir(t)})
	if err != nil {
		if strings.Contains(err.Error(), "is not installed") {
			t.Skipf("arm64 libraries missing: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("cross build: %.1f MB in %s", float64(info.Size)/1e6, time.Since(start).Round(time.Second))
	if info.Target != "linux/arm64" || info.Backend != build.BackendXNNPACK || !info.CGO {
		t.Fatalf("default Android build is %s/%s (cgo %v), want the linux/arm64 XNNPACK build", info.Target, info.Backend, info.CGO)
	}
	a, err := bundle.Assemble(filepath.Join(out, build.BinaryName), filepath.Join(out, "stage"), build.LibDirs(info.Target, ""))
	if err != nil {
		t.Fatal(err)
	}
	if a.Loader != "lib/ld-linux-aarch64.so.1" {
		t.Fatalf("bundle loader %q, want lib/ld-linux-aarch64.so.1", a.Loader)
	}
	m := bundle.Manifest{Binary: a.Binary, Loader: a.Loader, LibDir: a.LibDir}

	// version --json through the bundled loader: the build reports itself.
	argv := append([]string{qemu}, bundle.Command(a.Dir, m, "version", "--json")...)
	vout, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	var v struct {
		Target, Version string
		Backend         string `json:"build_backend"`
		Backends        []string
	}
	if err := json.Unmarshal(vout, &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, vout)
	}
	if v.Target != "linux/arm64" || v.Version != "qemu-test" || len(v.Backends) == 0 || v.Backends[0] != "xnnpack" {
		t.Fatalf("version --json under qemu: %s", vout)
	}

	const id = "qemu-arm64"
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: []string{id}})
	var agentLog bytes.Buffer
	argv = append([]string{qemu}, bundle.Command(a.Dir, m, "agent", "--broker", b.URL(), "--id", id, "--class", "qemu-arm64",
		"--backend", "xnnpack", "--cpus", "0", "--data-dir", filepath.Join(out, "agent"))...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "EDGENAS_AGENT_PASSWORD="+fleettest.AgentPassword)
	cmd.Stdout, cmd.Stderr = &agentLog, &agentLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})

	ls := space.MustLookup("spnas-fmnist").UniqueKeys()
	keys := []string{ls[len(ls)-1].Key(), ls[len(ls)-2].Key()}
	p := profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MinSecs: 0, MaxSecs: 0.2, RelTol: 0.05, Level: 0.95, MinSampleMicros: 50}
	sp := fleet.RunSpec{Run: fleet.NewRunID(), Space: "test", Class: "qemu-arm64", Keys: keys, Chunk: 2, Replicas: 1,
		Threads: 1, Protocol: proto.FromProfiler(p), Created: time.Now().UTC()}
	dir := t.TempDir()
	st, err := lut.Open(filepath.Join(dir, "lut.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := fleet.NewHost(fleet.Config{Broker: b.URL(), Username: fleettest.Host.Name, Password: fleettest.Host.Password, Spec: sp,
		Store: st, Journal: filepath.Join(dir, "lut.db.jobs"), Lease: 60 * time.Second, Grace: 5 * time.Second, Timeout: 5 * time.Minute,
		ToolVersion: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := h.Run(ctx); err != nil {
		t.Fatalf("fleet run with the emulated agent: %v", err)
	}
	t.Logf("profiling job under qemu: %d keys in %s", len(keys), time.Since(start).Round(time.Second))

	devs, err := st.Devices("qemu-arm64")
	if err != nil || len(devs) != 1 {
		t.Fatalf("devices: %v %v", devs, err)
	}
	var desc proto.Info
	if err := json.Unmarshal(devs[0].Description, &desc); err != nil {
		t.Fatalf("device description %q: %v", devs[0].Description, err)
	}
	// Arch is GOARCH, followed by the kernel's name in parentheses ("arm64 (aarch64)").
	if !strings.HasPrefix(desc.Arch, "arm64") || desc.OS != "linux" {
		t.Fatalf("agent registered as %s/%s, want linux/arm64 (host is %s)", desc.OS, desc.Arch, runtime.GOARCH)
	}
	es, err := st.Entries(lut.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(keys) {
		t.Fatalf("%d entries, want %d", len(es), len(keys))
	}
	for _, e := range es {
		if !e.Conditions.Emulated {
			t.Errorf("entry %s: not marked as emulated (conditions %+v)", e.Key, e.Conditions)
		}
		if !slices.Equal(e.Conditions.PinnedCPUs, []int{0}) || !slices.Equal(e.Conditions.Affinity, []int{0}) {
			t.Errorf("entry %s: pinned %v, measuring thread's affinity %v; want [0] (agent --cpus 0)", e.Key, e.Conditions.PinnedCPUs, e.Conditions.Affinity)
		}
		if e.Backend != "xnnpack-emulated" {
			t.Errorf("entry %s: backend %q, want xnnpack-emulated so no table mixes it with real xnnpack numbers", e.Key, e.Backend)
		}
	}
	if tab, err := st.View(id, "xnnpack", 1); err == nil && tab != nil && tab.Len() > 0 {
		t.Errorf("the real xnnpack view of %s holds %d emulated entries", id, tab.Len())
	}
}
