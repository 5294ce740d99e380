package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/space"
)

// TestDescribeCoreClusters reads the identity's core clusters from a fake
// sysfs: a big.LITTLE phone's and a VM's without cpufreq.
func TestDescribeCoreClusters(t *testing.T) {
	tests := []struct {
		name string
		khz  map[int]string
		want string
	}{
		{name: "Pixel 6", khz: map[int]string{0: "1803000", 1: "1803000", 2: "1803000", 3: "1803000", 4: "2253000", 5: "2253000", 6: "2802000", 7: "2802000"},
			want: "[{2802 [6 7]} {2253 [4 5]} {1803 [0 1 2 3]}]"},
		{name: "VM without cpufreq", want: "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for cpu, v := range tc.khz {
				d := filepath.Join(dir, "cpu"+strconv.Itoa(cpu), "cpufreq")
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, "cpuinfo_max_freq"), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			in := describeAt(context.Background(), dir, "a1", "c", "ref", "v")
			got := fmt.Sprint(in.CoreClusters)
			if got != tc.want {
				t.Fatalf("core clusters %s, want %s", got, tc.want)
			}
			if len(tc.khz) > 0 && in.FreqMaxMHz < 2802 {
				t.Errorf("freq_max_mhz %g below the fastest cluster", in.FreqMaxMHz)
			}
		})
	}
}

// TestPinnedMeasure measures a real key through an agent configured with
// CPUs: the measuring thread ran on them, the results record it, and so
// does the published description.
func TestPinnedMeasure(t *testing.T) {
	allowed, err := profiler.ProcessCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skipf("process may run on %v only: pinning cannot be told apart", allowed)
	}
	cpus := []int{allowed[len(allowed)-1]}
	a, err := New(Config{ID: "pin1", Broker: "tcp://127.0.0.1:1", DataDir: t.TempDir(), Backend: "ref", CPUs: cpus})
	if err != nil {
		t.Fatal(err)
	}
	ls := space.MustLookup("spnas-fmnist").UniqueKeys()
	p := proto.FromProfiler(profiler.Protocol{WarmupRuns: 1, MinRuns: 6, MaxSecs: 1, RelTol: 0.5, Level: 0.95})
	res, err := a.cfg.Measure(context.Background(), &proto.Job{Keys: []string{ls[len(ls)-1].Key()}, Threads: 1, Protocol: p}, func(int, int) {})
	if err != nil {
		t.Fatal(err)
	}
	c := res[0].Conditions
	if !slices.Equal(c.PinnedCPUs, cpus) || !slices.Equal(c.Affinity, cpus) {
		t.Fatalf("conditions: pinned %v, measuring thread's affinity %v; want %v", c.PinnedCPUs, c.Affinity, cpus)
	}
	if in := a.describe(context.Background()); !slices.Equal(in.PinnedCPUs, cpus) {
		t.Fatalf("description pinned_cpus %v, want %v", in.PinnedCPUs, cpus)
	}
}
