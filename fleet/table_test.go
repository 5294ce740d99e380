package fleet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"edgenas/agent/proto"
	"edgenas/profiler"
)

func testSpec(keys, chunk, replicas int) RunSpec {
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("k%d", i)
	}
	return RunSpec{Run: "r1", Class: "c", Keys: ks, Chunk: chunk, Replicas: replicas, Threads: 1}
}

// checkIndex asserts the lease index and counters agree with a full scan.
func checkIndex(t *testing.T, tab *table) {
	t.Helper()
	var n [4]int
	for _, j := range tab.jobs {
		n[j.State]++
		if j.State == Leased && !tab.leased[j.Agent][j] {
			t.Fatalf("%s leased to %s but not indexed", j.ID, j.Agent)
		}
	}
	if n != tab.count {
		t.Fatalf("counts %v, scan %v", tab.count, n)
	}
	for a, m := range tab.leased {
		for j := range m {
			if j.State != Leased || j.Agent != a {
				t.Fatalf("index has %s under %s, job is %s by %s", j.ID, a, j.State, j.Agent)
			}
		}
	}
}

func result(j *job, agent string, attempt int) *proto.Result {
	r := &proto.Result{Agent: agent, Class: "c", Job: j.ID, Attempt: attempt, Run: "r1"}
	for _, k := range j.Keys {
		r.Results = append(r.Results, profiler.LayerResult{Key: k})
	}
	return r
}

// TestTableRandomOps drives the table with random leases, heartbeats,
// expiries, releases, results and failures, checking its invariants after
// every step and that it finishes with every job done exactly once.
func TestTableRandomOps(t *testing.T) {
	for _, replicas := range []int{1, 2} {
		tab, err := newTable(testSpec(30, 2, replicas))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, uint64(replicas)))
		agents := []string{"a", "b", "c"}
		now := time.Unix(0, 0)
		for step := 0; step < 20000 && !tab.finished(); step++ {
			now = now.Add(100 * time.Millisecond)
			a := agents[rng.IntN(len(agents))]
			switch rng.IntN(6) {
			case 0, 1:
				tab.assign(a, now, time.Second)
			case 2:
				var listed []string
				for _, j := range tab.held(a) {
					if rng.IntN(2) == 0 {
						listed = append(listed, j.ID)
					}
				}
				tab.heartbeat(a, listed, now, time.Second, 300*time.Millisecond)
			case 3:
				tab.expire(now)
			case 4:
				if rng.IntN(10) == 0 {
					tab.release(a)
				}
			case 5:
				j := tab.jobs[rng.IntN(len(tab.jobs))]
				if !j.holders[a] {
					if v := tab.judge(result(j, a, 1)); v.outcome != proto.AckRejected && v.outcome != proto.AckDuplicate {
						t.Fatalf("result from non-holder %s for %s accepted", a, j.ID)
					}
					break
				}
				v := tab.judge(result(j, a, j.Attempt))
				if v.outcome == "" {
					if rng.IntN(20) == 0 && j.Failures < MaxFailures-1 {
						tab.fail(j, a, "boom")
					} else {
						tab.complete(j, a)
					}
				}
			}
			checkIndex(t, tab)
		}
		if !tab.finished() || tab.count[Failed] != 0 {
			t.Fatalf("replicas %d: not finished: %+v", replicas, tab.counts())
		}
		for c, js := range tab.byChunk {
			seen := map[string]bool{}
			for _, j := range js {
				if seen[j.Agent] {
					t.Errorf("chunk %d: agent %s measured two replicas", c, j.Agent)
				}
				seen[j.Agent] = true
			}
		}
	}
}

func TestJudge(t *testing.T) {
	tab, _ := newTable(testSpec(4, 2, 1))
	now := time.Unix(0, 0)
	j := tab.assign("a", now, time.Second)
	cases := []struct {
		name string
		r    *proto.Result
		want string
	}{
		{"unknown job", &proto.Result{Agent: "a", Job: "nope", Attempt: 1, Run: "r1"}, proto.AckRejected},
		{"other run", &proto.Result{Agent: "a", Job: j.ID, Attempt: 1, Run: "r2"}, proto.AckRejected},
		{"not the holder", result(j, "b", 1), proto.AckRejected},
		{"other class", func() *proto.Result { r := result(j, "a", 1); r.Class = "tablet"; return r }(), proto.AckRejected},
		{"wrong keys", &proto.Result{Agent: "a", Class: "c", Job: j.ID, Attempt: 1, Run: "r1", Results: []profiler.LayerResult{{Key: "k0"}, {Key: "zz"}}}, proto.AckRejected},
		{"too few keys", &proto.Result{Agent: "a", Class: "c", Job: j.ID, Attempt: 1, Run: "r1", Results: []profiler.LayerResult{{Key: "k0"}}}, proto.AckRejected},
		{"good", result(j, "a", 1), ""},
	}
	for _, c := range cases {
		if v := tab.judge(c.r); v.outcome != c.want {
			t.Errorf("%s: outcome %q (%s), want %q", c.name, v.outcome, v.reason, c.want)
		}
	}
	tab.complete(j, "a")
	if v := tab.judge(result(j, "a", 1)); v.outcome != proto.AckDuplicate {
		t.Errorf("second result: %q, want duplicate", v.outcome)
	}
}

func TestJournalReplay(t *testing.T) {
	path := t.TempDir() + "/jobs"
	sp := testSpec(6, 2, 1)
	jr, tab, err := openJournal(path, sp)
	if err != nil {
		t.Fatal(err)
	}
	j := tab.assign("a", time.Now(), time.Second)
	jr.append(record{Event: "lease", Job: j.ID, Agent: "a", Attempt: j.Attempt})
	tab.complete(j, "a")
	jr.append(record{Event: "done", Job: j.ID, Agent: "a", Attempt: 1})
	jr.close()
	// A torn tail (crash mid-write) is dropped; the rest replays.
	f, _ := openAppend(path)
	f.WriteString(`{"e":"done","job":"r1.000`)
	f.Close()
	jr2, tab2, err := openJournal(path, sp)
	if err != nil {
		t.Fatal(err)
	}
	defer jr2.close()
	if tab2.count[Done] != 1 || !tab2.byID[j.ID].holders["a"] || tab2.byID[j.ID].Attempt != 1 {
		t.Fatalf("replayed %+v", tab2.counts())
	}
	other := testSpec(7, 2, 1)
	if _, _, err := openJournal(path, other); err == nil {
		t.Fatal("journal of another run definition accepted")
	}
}

func openAppend(path string) (*os.File, error) { return os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0) }
