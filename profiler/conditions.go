package profiler

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/sensors"
	"golang.org/x/sys/unix"
)

// Conditions record what the machine was doing while a measurement ran, so a
// number can be trusted, compared, or thrown away later. Fields the platform
// does not expose stay zero/empty.
type Conditions struct {
	Backend  string `json:"backend"`
	Threads  int    `json:"threads"`
	CPUModel string `json:"cpu_model,omitempty"`
	// Affinity lists the CPUs the measuring thread could run on.
	Affinity []int `json:"affinity,omitempty"`
	// PinnedCPUs are the CPUs the measurement was pinned to (--cpus); empty
	// when it was not pinned.
	PinnedCPUs []int `json:"pinned_cpus,omitempty"`
	// FreqMHz is the mean current frequency over the allowed CPUs (cpufreq).
	FreqMHz  float64 `json:"freq_mhz,omitempty"`
	Governor string  `json:"governor,omitempty"`
	// TempC is the hottest thermal sensor.
	TempC float64 `json:"temp_c,omitempty"`
	// Load1 is the 1-minute load average at the end of the run.
	Load1  float64 `json:"load1"`
	NumCPU int     `json:"num_cpu"`
	// Throttled is true when the kernel's throttle counters moved during the run.
	Throttled bool `json:"throttled,omitempty"`
	// Busy is true when the load (beyond this measurement's own threads)
	// exceeded the cores left free: the numbers are suspect.
	Busy bool `json:"busy,omitempty"`
	// Emulated is true when the CPU is emulated (qemu user mode): the numbers
	// are not the device's and must not enter a latency table with real ones.
	Emulated bool `json:"emulated,omitempty"`
	// Delegate is set when an external tool (benchmark_model) measured with
	// a TFLite delegate: which one, its options and how much it took.
	Delegate *DelegateInfo `json:"delegate,omitempty"`
}

// Suspect reports whether the measurement should be retried.
func (c Conditions) Suspect() bool { return c.Throttled || c.Busy }

// Snapshot is the part of the conditions read before a run, to compare after.
type snapshot struct {
	throttle int64
}

// ReadConditions reads the static conditions (CPU model, affinity, frequency,
// governor, temperature, load) now.
func ReadConditions(ctx context.Context, backend string, threads int) Conditions {
	c := Conditions{Backend: backend, Threads: threads, NumCPU: goruntime.NumCPU()}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		c.CPUModel = strings.TrimSpace(infos[0].ModelName)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for i := 0; i < 1024; i++ {
			if set.IsSet(i) {
				c.Affinity = append(c.Affinity, i)
			}
		}
	}
	cpus := c.Affinity
	if len(cpus) == 0 {
		for i := 0; i < c.NumCPU; i++ {
			cpus = append(cpus, i)
		}
	}
	var sum float64
	var n int
	for _, i := range cpus {
		base := filepath.Join("/sys/devices/system/cpu", "cpu"+strconv.Itoa(i), "cpufreq")
		if khz, ok := readInt(filepath.Join(base, "scaling_cur_freq")); ok {
			sum += float64(khz) / 1000
			n++
		}
		if c.Governor == "" {
			if b, err := os.ReadFile(filepath.Join(base, "scaling_governor")); err == nil {
				c.Governor = strings.TrimSpace(string(b))
			}
		}
	}
	if n > 0 {
		c.FreqMHz = sum / float64(n)
	}
	if temps, err := sensors.TemperaturesWithContext(ctx); err == nil || len(temps) > 0 {
		for _, t := range temps {
			if t.Temperature > c.TempC && t.Temperature < 150 {
				c.TempC = t.Temperature
			}
		}
	}
	if avg, err := load.AvgWithContext(ctx); err == nil {
		c.Load1 = avg.Load1
	}
	c.Emulated = emulated()
	return c
}

// finish completes conditions read before a run with what changed during it.
func (c *Conditions) finish(ctx context.Context, before snapshot) {
	after := readSnapshot()
	c.Throttled = after.throttle > before.throttle
	if avg, err := load.AvgWithContext(ctx); err == nil {
		c.Load1 = avg.Load1
	}
	// The measurement itself contributes up to Threads to the load average.
	free := float64(c.NumCPU - c.Threads)
	if free < 0.5 {
		free = 0.5
	}
	c.Busy = c.Load1-float64(c.Threads) > free
}

func readSnapshot() snapshot {
	var s snapshot
	paths, _ := filepath.Glob("/sys/devices/system/cpu/cpu*/thermal_throttle/*_throttle_count")
	sort.Strings(paths)
	for _, p := range paths {
		if v, ok := readInt(p); ok {
			s.throttle += v
		}
	}
	return s
}

func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// emulated detects qemu user-mode emulation: qemu-user reports its own
// binfmt interpreter in the auxiliary vector's platform, but the portable
// tell is /proc/self/maps naming qemu, or /proc/cpuinfo of the host arch
// disagreeing with GOARCH.
func emulated() bool {
	if b, err := os.ReadFile("/proc/self/maps"); err == nil && strings.Contains(string(b), "qemu-") {
		return true
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	info := string(b)
	switch goruntime.GOARCH {
	case "arm64", "arm":
		// Real ARM kernels list "CPU implementer"; qemu-user shows the host's x86 cpuinfo.
		return strings.Contains(info, "vendor_id") && !strings.Contains(info, "CPU implementer")
	case "amd64", "386":
		return !strings.Contains(info, "vendor_id") && strings.Contains(info, "CPU implementer")
	}
	return false
}
