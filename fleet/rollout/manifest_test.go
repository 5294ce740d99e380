package rollout

import (
	"strings"
	"testing"
	"time"

	"edgenas/agent/proto"
)

func TestResolveTargets(t *testing.T) {
	agents := []Agent{{ID: "b1", Class: "pi", State: proto.StateOnline, Tags: map[string]string{"soc": "bcm2711", "rack": "r1"}},
		{ID: "a1", Class: "pi", State: proto.StateOffline, Tags: map[string]string{"soc": "bcm2712"}},
		{ID: "c1", Class: "pixel7", State: proto.StateBusy, Tags: map[string]string{"soc": "tensor-g1", "rack": "r1"}}}
	tests := []struct {
		target string
		want   string // ids, or the error substring after "!"
	}{
		{"all", "a1,b1,c1"},
		{"class:pi", "a1,b1"},
		{"class:pixel7", "c1"},
		{"c1", "c1"},
		{"class:nope", "!no agent of class"},
		{"class:", "!class"},
		{"zz", "!no such agent"},
		{"tag:soc=tensor-g1", "c1"},
		{"tag:rack=r1", "b1,c1"},
		{"tag:soc=bcm2712", "a1"},
		{"tag:soc=exynos", "!no agent tagged soc=exynos"},
		{"tag:nope=r1", "!no agent tagged nope=r1"},
		{"tag:soc", "!want KEY=VALUE"},
		{"tag:=x", "!tag key"},
		{"tag:soc=", "!value"},
		{"tag:soc=a/b", "!value \"a/b\""},
		{"a/b", "!want AGENT, class:C, tag:K=V or all"},
		{"", "!empty target"},
	}
	for _, tc := range tests {
		got, err := Resolve(tc.target, agents)
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("Resolve(%q) = %v, %v; want error %q", tc.target, got, err, tc.want[1:])
			}
			continue
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if err != nil || strings.Join(ids, ",") != tc.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tc.target, ids, err, tc.want)
		}
	}
	if _, err := Resolve("all", nil); err == nil {
		t.Error("Resolve(all) over no agents succeeded")
	}
}

func TestStoreVersionsAndList(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.NextVersion("m"); err != nil || v != 1 {
		t.Fatalf("NextVersion on an empty store = %d, %v", v, err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range []uint64{3, 7, 5} {
		m := proto.Manifest{Kind: proto.ManifestModel, Name: "m", Version: v, Created: base.Add(time.Duration(i) * time.Minute)}
		r := NewRollout(NewID("m", v, m.Created), m, nil, "all", agentsOf(1), 1, 0, 1)
		r.Phase = PhaseAborted
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	other := proto.Manifest{Kind: proto.ManifestModel, Name: "other", Version: 40, Created: base}
	if err := st.Save(NewRollout(NewID("other", 40, base), other, nil, "all", agentsOf(1), 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.NextVersion("m"); v != 8 {
		t.Errorf("NextVersion(m) = %d, want 8", v)
	}
	latest, err := st.Latest()
	if err != nil || latest.Version != 5 {
		t.Errorf("Latest = %+v, %v; want the v5 rollout (created last)", latest, err)
	}
	all, _ := st.List()
	if len(all) != 4 {
		t.Errorf("List: %d rollouts, want 4", len(all))
	}
	if _, err := st.Load("nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Load(nope): %v", err)
	}
	if _, err := st.Load("../x"); err == nil {
		t.Error("Load(../x) succeeded")
	}
}
