// Package agent is the device daemon: it connects to the fleet's MQTT broker,
// announces the device (retained info and status, with a last will marking
// it offline), measures the latency-table keys the host hands it, and
// returns the results, keeping each on disk until the host acknowledges it.
// It rides out broker restarts, network drops and its own restarts, and
// shuts down cleanly on SIGTERM. docs/protocol.md describes the protocol.
package agent

import (
	"context"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/sensors"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/runtime/backends"
)

// Describe reads the device description an agent publishes: OS, kernel,
// arch, CPU model, cores, frequencies, memory and temperature where the
// platform exposes them (fields it does not stay empty), and the backends
// this build can run.
func Describe(ctx context.Context, id, class, backend, version string) proto.Info {
	return describeAt(ctx, profiler.SysCPUDir, id, class, backend, version)
}

// describeAt is Describe reading the CPUs' sysfs under sysDir.
func describeAt(ctx context.Context, sysDir, id, class, backend, version string) proto.Info {
	in := proto.Info{Agent: id, Class: class, AgentVersion: version, OS: goruntime.GOOS, Arch: goruntime.GOARCH,
		LogicalCPUs: goruntime.NumCPU(), Backends: backends.Available(), Backend: backend, Time: time.Now().UTC()}
	if h, err := host.InfoWithContext(ctx); err == nil {
		in.Hostname, in.Platform, in.PlatformVer, in.Kernel = h.Hostname, h.Platform, h.PlatformVersion, h.KernelVersion
		if h.KernelArch != "" {
			in.Arch = goruntime.GOARCH + " (" + h.KernelArch + ")"
		}
	} else if hn, err := os.Hostname(); err == nil {
		in.Hostname = hn
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil && n > 0 {
		in.Cores = n
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		in.CPUModel = strings.TrimSpace(infos[0].ModelName)
		for _, c := range infos {
			in.FreqMaxMHz = max(in.FreqMaxMHz, c.Mhz)
		}
	}
	// A malformed cpufreq file only costs the clusters: the rest of the
	// description is still worth publishing.
	if cl, err := profiler.CoreClusters(sysDir); err == nil && len(cl) > 0 {
		in.CoreClusters = cl
		in.FreqMaxMHz = max(in.FreqMaxMHz, cl[0].MaxMHz)
	}
	if f := curFreqMHz(); f > 0 {
		in.FreqMHz = f
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		in.MemTotalMB = vm.Total >> 20
	}
	if temps, err := sensors.TemperaturesWithContext(ctx); err == nil || len(temps) > 0 {
		for _, t := range temps {
			if t.Temperature > in.TempC && t.Temperature < 150 {
				in.TempC = t.Temperature
			}
		}
	}
	return in
}

// curFreqMHz is the mean current frequency over CPUs from cpufreq (Linux and
// Android); gopsutil's Mhz is the nominal one on most ARM boards.
func curFreqMHz() float64 {
	var sum float64
	var n int
	for i := 0; i < goruntime.NumCPU(); i++ {
		b, err := os.ReadFile("/sys/devices/system/cpu/cpu" + strconv.Itoa(i) + "/cpufreq/scaling_cur_freq")
		if err != nil {
			continue
		}
		if khz, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && khz > 0 {
			sum += khz / 1000
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
