package profiler

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
)

// Device describes the machine measurements come from (gopsutil v4); it is
// stored with latency tables and published by the agent.
type Device struct {
	Hostname    string    `json:"hostname"`
	OS          string    `json:"os"`
	Platform    string    `json:"platform,omitempty"`
	Kernel      string    `json:"kernel,omitempty"`
	Arch        string    `json:"arch"`
	CPUModel    string    `json:"cpu_model,omitempty"`
	Cores       int       `json:"cores"`
	LogicalCPUs int       `json:"logical_cpus"`
	MaxMHz      float64   `json:"max_mhz,omitempty"`
	MemoryBytes uint64    `json:"memory_bytes,omitempty"`
	Emulated    bool      `json:"emulated,omitempty"`
	Virtualized string    `json:"virtualization,omitempty"`
	TempsC      []float64 `json:"temps_c,omitempty"`
}

// Describe reads the device description; fields the platform hides stay empty.
func Describe(ctx context.Context) Device {
	d := Device{OS: goruntime.GOOS, Arch: goruntime.GOARCH, LogicalCPUs: goruntime.NumCPU()}
	d.Hostname, _ = os.Hostname()
	if hi, err := host.InfoWithContext(ctx); err == nil {
		d.Platform = strings.TrimSpace(hi.Platform + " " + hi.PlatformVersion)
		d.Kernel = hi.KernelVersion
		if hi.VirtualizationSystem != "" {
			d.Virtualized = hi.VirtualizationSystem + "/" + hi.VirtualizationRole
		}
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		d.CPUModel = strings.TrimSpace(infos[0].ModelName)
		d.MaxMHz = infos[0].Mhz
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		d.Cores = n
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		d.MemoryBytes = vm.Total
	}
	c := ReadConditions(ctx, "", 0)
	d.Emulated = c.Emulated
	if c.TempC > 0 {
		d.TempsC = []float64{c.TempC}
	}
	return d
}
