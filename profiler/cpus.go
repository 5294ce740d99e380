package profiler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxCPUs bounds CPU numbers in a CPU list: the size of the kernel's
// cpu_set_t that sched_setaffinity takes (unix.CPUSet).
const MaxCPUs = 1024

// maxCPUListLen bounds the text of a CPU list so a pasted garbage argument
// is refused before it is parsed.
const maxCPUListLen = 4096

// SysCPUDir is where Linux (and Android) describe the CPUs.
const SysCPUDir = "/sys/devices/system/cpu"

// ParseCPUList parses a Linux CPU list ("0-3,6", the syntax of taskset -c
// and of /sys/devices/system/cpu/online) into sorted, distinct CPU numbers.
// It checks syntax and bounds only; CheckCPUs checks the CPUs exist.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty CPU list (want e.g. 0-3,6)")
	}
	if len(s) > maxCPUListLen {
		return nil, fmt.Errorf("CPU list is %d bytes, longer than %d", len(s), maxCPUListLen)
	}
	var set [MaxCPUs]bool
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := cpuNumber(lo, part)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = cpuNumber(hi, part); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("CPU range %q runs backwards", part)
			}
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	var out []int
	for c, ok := range set {
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func cpuNumber(s, part string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("CPU list item %q: %q is not a CPU number", part, s)
	}
	if n < 0 || n >= MaxCPUs {
		return 0, fmt.Errorf("CPU list item %q: CPU %d out of range [0,%d)", part, n, MaxCPUs)
	}
	return n, nil
}

// FormatCPUList renders sorted CPU numbers the way ParseCPUList reads them,
// with ranges ("0-3,6").
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// OnlineCPUs reads the online CPUs from sysDir/online (sysDir is normally
// SysCPUDir); where that file is missing it falls back to 0..NumCPU-1.
func OnlineCPUs(sysDir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(sysDir, "online"))
	if errors.Is(err, os.ErrNotExist) {
		cpus := make([]int, goruntime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus, nil
	}
	if err != nil {
		return nil, fmt.Errorf("online CPUs: %w", err)
	}
	cpus, err := ParseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("online CPUs in %s: %w", filepath.Join(sysDir, "online"), err)
	}
	return cpus, nil
}

// ProcessCPUs is the affinity mask of the calling thread: outside RunPinned
// the CPUs this process may run on (taskset or a cgroup may have narrowed
// them), inside it the pinned set.
func ProcessCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return cpuSetList(&set), nil
}

func cpuSetList(set *unix.CPUSet) []int {
	var out []int
	for i := 0; i < MaxCPUs; i++ {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}

// CheckCPUs verifies every requested CPU is online and in allowed (the
// process's own mask): sched_setaffinity would otherwise fail with a bare
// EINVAL, or the measurement would run somewhere else than asked.
func CheckCPUs(cpus, online, allowed []int) error {
	if len(cpus) == 0 {
		return errors.New("no CPUs to pin to")
	}
	for _, c := range cpus {
		if !slices.Contains(online, c) {
			return fmt.Errorf("CPU %d does not exist or is offline (online: %s)", c, FormatCPUList(online))
		}
		if !slices.Contains(allowed, c) {
			return fmt.Errorf("CPU %d is online but this process may not use it (allowed: %s; see taskset or the cgroup's cpuset)", c, FormatCPUList(allowed))
		}
	}
	return nil
}

// ParseCPUs parses a --cpus argument and checks it against this machine:
// the CPUs must be online and allowed to the process.
func ParseCPUs(s string) ([]int, error) {
	cpus, err := ParseCPUList(s)
	if err != nil {
		return nil, err
	}
	online, err := OnlineCPUs(SysCPUDir)
	if err != nil {
		return nil, err
	}
	allowed, err := ProcessCPUs()
	if err != nil {
		return nil, err
	}
	if err := CheckCPUs(cpus, online, allowed); err != nil {
		return nil, err
	}
	return cpus, nil
}

// RunPinned runs fn on a goroutine locked to an OS thread whose affinity is
// restricted to cpus, and waits for it. Threads that thread creates inherit
// the mask: XNNPACK's pthreadpool workers are created when an interpreter is
// loaded, so load the interpreter inside fn for its workers to be pinned too.
// The thread is never unlocked, so it exits with the goroutine instead of
// going back, pinned, to the Go scheduler. With no cpus, fn runs as is.
func RunPinned(cpus []int, fn func() error) error {
	if len(cpus) == 0 {
		return fn()
	}
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= MaxCPUs {
			return fmt.Errorf("pin: CPU %d out of range [0,%d)", c, MaxCPUs)
		}
		set.Set(c)
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin to CPUs %s: sched_setaffinity: %w", FormatCPUList(cpus), err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// CoreCluster is a group of CPUs with the same maximum frequency: on a
// big.LITTLE phone the little, big and prime cores, which time the same
// kernel very differently.
type CoreCluster struct {
	MaxMHz float64 `json:"max_mhz"`
	CPUs   []int   `json:"cpus"`
}

// CoreClusters groups the CPUs under sysDir (normally SysCPUDir) by
// cpufreq/cpuinfo_max_freq, fastest first. Machines without cpufreq (most
// VMs) have no such files: the result is empty, not an error.
func CoreClusters(sysDir string) ([]CoreCluster, error) {
	paths, err := filepath.Glob(filepath.Join(sysDir, "cpu[0-9]*", "cpufreq", "cpuinfo_max_freq"))
	if err != nil {
		return nil, fmt.Errorf("core clusters: %w", err)
	}
	byKHz := map[int64][]int{}
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(filepath.Dir(p)))
		cpu, err := strconv.Atoi(strings.TrimPrefix(name, "cpu"))
		if err != nil || cpu < 0 || cpu >= MaxCPUs {
			continue // cpufreq policy directories and the like
		}
		khz, ok := readInt(p)
		if !ok || khz <= 0 {
			return nil, fmt.Errorf("core clusters: %s does not hold a frequency in kHz", p)
		}
		byKHz[khz] = append(byKHz[khz], cpu)
	}
	out := make([]CoreCluster, 0, len(byKHz))
	for khz, cpus := range byKHz {
		slices.Sort(cpus)
		out = append(out, CoreCluster{MaxMHz: float64(khz) / 1000, CPUs: cpus})
	}
	slices.SortFunc(out, func(a, b CoreCluster) int {
		if a.MaxMHz != b.MaxMHz {
			if a.MaxMHz > b.MaxMHz {
				return -1
			}
			return 1
		}
		return a.CPUs[0] - b.CPUs[0]
	})
	return out, nil
}
