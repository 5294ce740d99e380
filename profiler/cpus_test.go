package profiler_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"edgenas/profiler"
	"edgenas/runtime"
	"edgenas/runtime/xnnpack"
	"edgenas/space"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []int
		wantErr  string
	}{
		{name: "single", in: "0", want: []int{0}},
		{name: "range and single", in: "0-3,6", want: []int{0, 1, 2, 3, 6}},
		{name: "unsorted with spaces and overlap", in: " 6, 2-3 ,3,0 ", want: []int{0, 2, 3, 6}},
		{name: "one-CPU range", in: "5-5", want: []int{5}},
		{name: "sysfs newline", in: "0-1\n", want: []int{0, 1}},
		{name: "empty", in: "", wantErr: "empty CPU list"},
		{name: "word", in: "big", wantErr: `"big" is not a CPU number`},
		{name: "backwards", in: "3-1", wantErr: "runs backwards"},
		{name: "negative", in: "-1", wantErr: `"" is not a CPU number`},
		{name: "plus sign", in: "+1", wantErr: "not a CPU number"},
		{name: "too large", in: "0,1024", wantErr: "CPU 1024 out of range [0,1024)"},
		{name: "open range", in: "0-", wantErr: "not a CPU number"},
		{name: "empty item", in: "1,,2", wantErr: "not a CPU number"},
		{name: "too long", in: strings.Repeat("1,", 3000), wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := profiler.ParseCPUList(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseCPUList(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3,6", "1,,2", "3-1", "1023", "0-1023", " 2 - 4 ", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := profiler.ParseCPUList(s)
		if err != nil {
			return
		}
		if len(cpus) == 0 || !slices.IsSorted(cpus) || cpus[0] < 0 || cpus[len(cpus)-1] >= profiler.MaxCPUs {
			t.Fatalf("ParseCPUList(%q) = %v: empty, unsorted or out of bounds", s, cpus)
		}
		again, err := profiler.ParseCPUList(profiler.FormatCPUList(cpus))
		if err != nil || !slices.Equal(again, cpus) {
			t.Fatalf("round trip of %v through %q: %v, %v", cpus, profiler.FormatCPUList(cpus), again, err)
		}
	})
}

func TestCheckCPUs(t *testing.T) {
	tests := []struct {
		name                  string
		cpus, online, allowed []int
		wantErr               string
	}{
		{name: "all fine", cpus: []int{0, 2}, online: []int{0, 1, 2, 3}, allowed: []int{0, 1, 2, 3}},
		{name: "offline", cpus: []int{4}, online: []int{0, 1, 2, 3}, allowed: []int{0, 1, 2, 3}, wantErr: "CPU 4 does not exist or is offline (online: 0-3)"},
		{name: "not allowed", cpus: []int{3}, online: []int{0, 1, 2, 3}, allowed: []int{0, 1}, wantErr: "CPU 3 is online but this process may not use it (allowed: 0-1"},
		{name: "none", online: []int{0}, allowed: []int{0}, wantErr: "no CPUs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := profiler.CheckCPUs(tc.cpus, tc.online, tc.allowed)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CheckCPUs = %v, want error %q", err, tc.wantErr)
			}
		})
	}
}

// fakeSysfs writes cpuN/cpufreq/cpuinfo_max_freq files (kHz) under a temp dir.
func fakeSysfs(t *testing.T, khz map[int]string) string {
	t.Helper()
	dir := t.TempDir()
	for cpu, v := range khz {
		d := filepath.Join(dir, "cpu"+strconv.Itoa(cpu), "cpufreq")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cpuinfo_max_freq"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Directories that are not CPUs must be ignored.
	if err := os.MkdirAll(filepath.Join(dir, "cpufreq", "policy0"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCoreClusters(t *testing.T) {
	tests := []struct {
		name    string
		khz     map[int]string
		want    []profiler.CoreCluster
		wantErr string
	}{
		{name: "Pixel 6: 4 little, 2 medium, 2 big", khz: map[int]string{0: "1803000", 1: "1803000", 2: "1803000", 3: "1803000",
			4: "2253000", 5: "2253000", 6: "2802000", 7: "2802000"},
			want: []profiler.CoreCluster{{MaxMHz: 2802, CPUs: []int{6, 7}}, {MaxMHz: 2253, CPUs: []int{4, 5}}, {MaxMHz: 1803, CPUs: []int{0, 1, 2, 3}}}},
		{name: "one cluster, ten CPUs sort numerically", khz: map[int]string{0: "1500000", 10: "1500000", 2: "1500000"},
			want: []profiler.CoreCluster{{MaxMHz: 1500, CPUs: []int{0, 2, 10}}}},
		{name: "VM without cpufreq", khz: map[int]string{}, want: []profiler.CoreCluster{}},
		{name: "garbage frequency", khz: map[int]string{0: "fast"}, wantErr: "does not hold a frequency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := profiler.CoreClusters(fakeSysfs(t, tc.khz))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CoreClusters = %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.EqualFunc(got, tc.want, func(a, b profiler.CoreCluster) bool {
				return a.MaxMHz == b.MaxMHz && slices.Equal(a.CPUs, b.CPUs)
			}) || len(got) != len(tc.want) {
				t.Fatalf("CoreClusters = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// allowedList reads a thread's Cpus_allowed_list from /proc: what the kernel
// will schedule it on, independent of what the process asked for.
func allowedList(t *testing.T, tid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + tid + "/status")
	if err != nil {
		return "" // the thread exited meanwhile
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in /proc/self/task/%s/status", tid)
	return ""
}

// tasksOn lists this process's threads whose allowed CPUs are exactly list.
func tasksOn(t *testing.T, list string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skipf("no /proc/self/task: %v", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if allowedList(t, e.Name()) == list {
			out[e.Name()] = true
		}
	}
	return out
}

// needTwoCPUs returns the last allowed CPU, skipping where pinning to one
// CPU could not be told apart from not pinning.
func needTwoCPUs(t *testing.T) int {
	t.Helper()
	allowed, err := profiler.ProcessCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skipf("process may run on %v only: pinning to one CPU is indistinguishable", allowed)
	}
	return allowed[len(allowed)-1]
}

func TestRunPinnedSetsThreadAffinity(t *testing.T) {
	last := needTwoCPUs(t)
	want := strconv.Itoa(last)
	var inside string
	err := profiler.RunPinned([]int{last}, func() error {
		inside = allowedList(t, strconv.Itoa(unix.Gettid()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != want {
		t.Fatalf("pinned thread's Cpus_allowed_list = %q, want %q", inside, want)
	}
	// The caller's own thread is untouched.
	if got := allowedList(t, strconv.Itoa(unix.Gettid())); got == want {
		t.Fatalf("RunPinned narrowed the calling thread too (%q)", got)
	}
	if err := profiler.RunPinned([]int{profiler.MaxCPUs}, func() error { return nil }); err == nil {
		t.Fatal("RunPinned accepted CPU 1024")
	}
}

// TestRunPinnedXNNPACKWorkers proves XNNPACK's pthreadpool workers inherit
// the pinning when the interpreter is loaded on the pinned thread, and that
// the conditions of a pinned profile record it.
func TestRunPinnedXNNPACKWorkers(t *testing.T) {
	if !xnnpack.Available() {
		t.Skip("XNNPACK not available in this build")
	}
	last := needTwoCPUs(t)
	want := strconv.Itoa(last)
	l := space.MustLookup("spnas-fmnist").UniqueKeys()[0]
	m, err := profiler.LayerModel(l)
	if err != nil {
		t.Fatal(err)
	}
	const threads = 3
	before := tasksOn(t, want)
	err = profiler.RunPinned([]int{last}, func() error {
		it, err := xnnpack.Backend{}.Load(m, runtime.Options{Threads: threads})
		if err != nil {
			return err
		}
		defer it.Close()
		// The pool is alive now: its workers plus this thread are on want.
		after := tasksOn(t, want)
		added := 0
		for tid := range after {
			if !before[tid] {
				added++
			}
		}
		if added < threads {
			t.Errorf("%d new threads pinned to CPU %s, want at least %d (this one and %d pthreadpool workers)", added, want, threads, threads-1)
		}
		return it.Invoke()
	})
	if err != nil {
		t.Fatal(err)
	}

	var got []profiler.LayerResult
	p := profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MinSecs: 0, MaxSecs: 0.2, RelTol: 0.5, Level: 0.95}
	err = profiler.ProfileLayers(context.Background(), profiler.LayerJob{Layers: []space.Layer{l}, Backend: xnnpack.Backend{}, Threads: 2,
		Protocol: p, CPUs: []int{last}, Sink: func(r []profiler.LayerResult) error { got = append(got, r...); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	c := got[0].Conditions
	if !slices.Equal(c.PinnedCPUs, []int{last}) || !slices.Equal(c.Affinity, []int{last}) {
		t.Fatalf("conditions of a profile pinned to CPU %d: pinned %v, measuring thread's affinity %v", last, c.PinnedCPUs, c.Affinity)
	}
}
