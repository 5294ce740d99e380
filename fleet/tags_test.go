package fleet_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgenas/agent"
	"edgenas/fleet"
	"edgenas/fleet/fleettest"
	"edgenas/lut"
)

// TestTagsSelectAgents: of two agents of the class, only the one whose info
// carries the run's tags is leased jobs, so only its results enter the LUT;
// a resumed run with other tags is refused.
func TestTagsSelectAgents(t *testing.T) {
	b := fleettest.Start(t, fleettest.Embedded, fleettest.Options{Agents: []string{"plain", "tagged"}})
	dir := t.TempDir()
	for _, a := range []struct {
		id   string
		tags map[string]string
	}{
		{id: "plain"},
		{id: "tagged", tags: map[string]string{"soc": "tensor-g1", "rack": "r1"}},
	} {
		fleettest.RunAgent(t, agent.Config{Broker: b.URL(), ID: a.id, Class: class, Tags: a.tags, Password: fleettest.AgentPassword,
			DataDir: filepath.Join(dir, a.id), Backend: "ref", Measure: fakeMeasure(0), Heartbeat: 200 * time.Millisecond,
			Resend: 500 * time.Millisecond, Version: "test", Logger: testLogger()})
	}
	st := openStore(t, dir)
	sp := spec(syntheticKeys(12), 2, 1)
	sp.Tags = map[string]string{"soc": "tensor-g1"}
	journal := filepath.Join(dir, "lut.db.jobs")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := runHost(t, ctx, hostConfig(b.URL(), st, journal, sp))
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, st, sp)
	es, err := st.Entries(lut.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Device != "tagged" {
			t.Errorf("entry %s from %s; only the agent tagged soc=tensor-g1 may measure", e.Key, e.Device)
		}
	}
	if len(sum.Agents) != 1 || sum.Agents[0] != "tagged" {
		t.Errorf("summary agents %v, want [tagged]", sum.Agents)
	}

	other := sp
	other.Tags = map[string]string{"soc": "exynos"}
	_, err = fleet.NewHost(hostConfig(b.URL(), st, journal, other))
	if err == nil || !strings.Contains(err.Error(), "soc=tensor-g1") {
		t.Errorf("resuming with other tags: %v; want the journal's tags named", err)
	}
}
