package fleet_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgenas/fleet"
	"edgenas/fleet/fleettest"
)

func loadAgents(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("load%04d", i)
	}
	return ids
}

func runLoad(t *testing.T, kind string, n int) fleet.LoadResult {
	b := fleettest.Start(t, kind, fleettest.Options{Agents: loadAgents(n)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := fleet.LoadTest(ctx, fleet.LoadConfig{Broker: b.URL(), HostUser: fleettest.Host.Name,
		HostPassword: fleettest.Host.Password, AgentPassword: fleettest.AgentPassword, Agents: n, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("%+v: %v", res, err)
	}
	if res.Lost != 0 || res.Duplicated != 0 || res.Entries != res.Jobs {
		t.Fatalf("lost %d, duplicated %d, %d entries for %d jobs", res.Lost, res.Duplicated, res.Entries, res.Jobs)
	}
	return res
}

// TestLoadSmall runs the load harness at a size CI affords.
func TestLoadSmall(t *testing.T) {
	runLoad(t, fleettest.Embedded, 10)
}

// TestLoad is the load benchmark: EDGENAS_LOADTEST=100,1000 runs those
// agent counts against both brokers and logs results/s and p99 latency.
func TestLoad(t *testing.T) {
	spec := os.Getenv("EDGENAS_LOADTEST")
	if spec == "" {
		t.Skip("set EDGENAS_LOADTEST=100,1000 to run the load benchmark")
	}
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("EDGENAS_LOADTEST: %q is not an agent count", f)
		}
		for _, kind := range fleettest.Kinds() {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				r := runLoad(t, kind, n)
				t.Logf("LOAD broker=%s agents=%d jobs=%d results/s=%.0f p50=%.1fms p99=%.1fms lost=%d dup=%d connect=%.1fs profile=%.1fs reissued=%d dupacks=%d",
					kind, n, r.Jobs, r.ResultsPerSec, r.P50Millis, r.P99Millis, r.Lost, r.Duplicated, r.ConnectSecs, r.Seconds, r.Reissued, r.DupResults)
			})
		}
	}
}
