package lut

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"edgenas/profiler"
	"edgenas/runtime/ref"
	"edgenas/space"
)

// A profile interrupted after two committed groups keeps those groups; the
// rerun measures only what is missing, and the table ends with every key once.
func TestProfileResumeAfterInterrupt(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	keys := s.UniqueKeys()[:20]
	db := filepath.Join(t.TempDir(), "lut.db")
	proto := profiler.DefaultProtocol()
	proto.MinRuns, proto.MinSecs, proto.MaxSecs, proto.RelTol, proto.WarmupRuns, proto.WarmupSecs = 6, 0, 0.01, 0.5, 1, 0
	run := func(ctx context.Context, cancel func(), layers []space.Layer, stopAfter int) (int, error) {
		st, err := Open(db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var todo []space.Layer
		for _, l := range layers {
			has, err := st.Has("dev", "ref", 1, l.Key())
			if err != nil {
				t.Fatal(err)
			}
			if !has {
				todo = append(todo, l)
			}
		}
		groups := 0
		err = profiler.ProfileLayers(ctx, profiler.LayerJob{Layers: todo, Backend: ref.Backend{}, Threads: 1, Protocol: proto, Group: 4,
			Sink: func(rs []profiler.LayerResult) error {
				var es []Entry
				for _, r := range rs {
					es = append(es, FromMeasurement("dev", r.Key, r.Measurement, time.Now(), "test"))
				}
				if err := st.Put(es...); err != nil {
					return err
				}
				groups++
				if groups == stopAfter {
					cancel() // the "crash": the next group is abandoned mid-measurement
				}
				return nil
			}})
		return len(todo), err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := run(ctx, cancel, keys, 2)
	if n != 20 || !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %d to do, err %v; want 20 and context.Canceled", n, err)
	}
	st, _ := Open(db)
	es, _ := st.Entries(Filter{Device: "dev"})
	st.Close()
	if len(es) != 8 {
		t.Fatalf("after the interrupt %d entries stored, want the 8 of two committed groups", len(es))
	}
	n, err = run(context.Background(), func() {}, keys, -1)
	if err != nil || n != 12 {
		t.Fatalf("resume measured %d keys (err %v), want the 12 missing", n, err)
	}
	st, _ = Open(db)
	defer st.Close()
	es, _ = st.Entries(Filter{Device: "dev"})
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Key]++
	}
	for _, l := range keys {
		if seen[l.Key()] != 1 {
			t.Errorf("key %s stored %d times", l.Key(), seen[l.Key()])
		}
	}
}
