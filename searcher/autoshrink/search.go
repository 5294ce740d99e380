package autoshrink

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"time"

	"edgenas/lut"
	"edgenas/nn"
	"edgenas/space"
)

// Config is one shrinking search.
type Config struct {
	Space *space.DAGSpace
	// Latency predicts a topology's latency (a calibrated predictor, or a
	// plain LUT sum); its log replaces the reference's log10 MACs.
	Latency lut.DAGPredictor
	// K is how many live edges are tried per step (10).
	K int
	// Coef weighs the cost: score = val accuracy - Coef*log10(ms). The
	// reference charges 0.1 per decade of MACs (10x the MACs costs 10
	// accuracy points); int8 CPU latency grows about in proportion to MACs
	// across these cells, so the same 0.1 per decade of latency keeps the
	// reference's trade.
	Coef float64
	// TargetMS (0: none) picks the best-scoring snapshot predicted at or
	// under it, and stops the search once a snapshot meets it and the score
	// falls below the best one under the target.
	TargetMS float64
	// KeepFraction stops the search when the live edges are at most
	// round(MaxEdges*KeepFraction) (the reference passes 0.01: to the end).
	KeepFraction float64
	Seed         uint64
	Proxy        ProxyConfig
	// Workers is how many candidates train at once (0: the machine's cores).
	Workers int
}

// DefaultConfig is the reference's search (k=10, 0.1 per decade, to the end).
func DefaultConfig() Config {
	return Config{K: 10, Coef: 0.1, KeepFraction: 0.01, Proxy: DefaultProxy()}
}

func (c Config) validate() error {
	switch {
	case c.Space == nil || c.Latency == nil:
		return fmt.Errorf("autoshrink: a DAG space and a latency predictor are required")
	case c.K < 1 || c.K > c.Space.MaxEdges():
		return fmt.Errorf("autoshrink: k = %d, want 1..%d", c.K, c.Space.MaxEdges())
	case !(c.Coef >= 0) || math.IsInf(c.Coef, 0):
		return fmt.Errorf("autoshrink: cost coefficient %g must be a non-negative number", c.Coef)
	case !(c.TargetMS >= 0) || math.IsInf(c.TargetMS, 0):
		return fmt.Errorf("autoshrink: target %g ms must be a non-negative number", c.TargetMS)
	case !(c.KeepFraction >= 0 && c.KeepFraction < 1):
		return fmt.Errorf("autoshrink: keep fraction %g outside [0,1)", c.KeepFraction)
	case c.Workers < 0:
		return fmt.Errorf("autoshrink: %d workers", c.Workers)
	}
	return c.Proxy.validate()
}

// stopEdges is the edge count at which the search ends.
func (c Config) stopEdges() int {
	return max(1, int(math.Round(float64(c.Space.MaxEdges())*c.KeepFraction)))
}

// Files of a search run directory (beside searcher.CandidatesFile).
const (
	CheckpointFile  = "search.ckpt"
	LogFile         = "steps.jsonl"
	ScorePlotFile   = "steps-score.png"
	LatencyPlotFile = "steps-latency.png"
	SnapshotsFile   = "snapshots.json"
	ArchFile        = "arch.txt"
)

// Candidate is one tried removal.
type Candidate struct {
	Edge        string  `json:"edge"`
	Arch        string  `json:"arch"`
	PredictedMS float64 `json:"predicted_ms"`
	Score       float64 `json:"score"`
	Seconds     float64 `json:"seconds"`
	ProxyResult
}

// Snapshot is the topology a step kept.
type Snapshot struct {
	Step        int     `json:"step"`
	Arch        string  `json:"arch"`
	Edges       int     `json:"edges"`
	Removed     string  `json:"removed"`
	ValAcc      float64 `json:"val_accuracy"`
	PredictedMS float64 `json:"predicted_ms"`
	Score       float64 `json:"score"`
}

// StepRecord is one line of LogFile.
type StepRecord struct {
	Step int `json:"step"`
	// Idle: the search had already ended (edge budget reached, or stopped at
	// the target); the step did nothing.
	Idle       bool        `json:"idle,omitempty"`
	Snapshot   *Snapshot   `json:"snapshot,omitempty"`
	Candidates []Candidate `json:"candidates,omitempty"`
	Stopped    string      `json:"stopped,omitempty"`
	Seconds    float64     `json:"seconds"`
}

// state is what carries from step to step (and into the checkpoint).
type state struct {
	Edges     uint64     `json:"edges"`
	RNG       []byte     `json:"rng"`
	Snapshots []Snapshot `json:"snapshots"`
	Stopped   string     `json:"stopped,omitempty"`
}

// Search is a shrinking search in progress.
type Search struct {
	// OnCandidate (may be nil) sees every trained candidate as it finishes,
	// one call at a time.
	OnCandidate func(step int, c Candidate)

	mu    sync.Mutex
	cfg   Config
	proxy *Proxy
	cur   space.DAGArch
	pcg   *rand.PCG
	rng   *rand.Rand
	st    state
}

// NewSearch starts a search from the complete DAG.
func NewSearch(cfg Config, proxy *Proxy) (*Search, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if proxy == nil {
		return nil, fmt.Errorf("autoshrink: no proxy task")
	}
	pcg := rand.NewPCG(cfg.Seed, 0x736872696e6b)
	return &Search{cfg: cfg, proxy: proxy, cur: cfg.Space.Full(), pcg: pcg, rng: rand.New(pcg)}, nil
}

// Score is the search's objective: accuracy minus Coef*log10(ms).
func (s *Search) Score(acc, ms float64) float64 { return acc - s.cfg.Coef*math.Log10(ms) }

// Steps is the most steps a search can take (one edge each).
func (s *Search) Steps() int { return s.cfg.Space.MaxEdges() - s.cfg.stopEdges() }

// Snapshots lists the kept topologies so far.
func (s *Search) Snapshots() []Snapshot { return append([]Snapshot(nil), s.st.Snapshots...) }

// Step runs one shrinking step.
func (s *Search) Step(ctx context.Context, step int) (StepRecord, error) {
	start := time.Now()
	rec := StepRecord{Step: step}
	if s.st.Stopped != "" || s.cur.NumEdges() <= s.cfg.stopEdges() {
		rec.Idle = true
		return rec, nil
	}
	live := s.cur.EdgeList()
	s.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	tries := live[:min(s.cfg.K, len(live))]
	var cands []Candidate
	var archs []space.DAGArch
	var edges []space.Edge
	for _, e := range tries {
		b, err := s.cur.Without(e)
		if err != nil {
			continue // the last edge: nothing to remove
		}
		ms, err := s.cfg.Latency.PredictDAG(b)
		if err != nil {
			return StepRecord{}, fmt.Errorf("autoshrink step %d: %w", step, err)
		}
		cands = append(cands, Candidate{Edge: e.String(), Arch: b.String(), PredictedMS: ms.Millis})
		archs, edges = append(archs, b), append(edges, e)
	}
	if len(cands) == 0 {
		rec.Idle = true
		s.st.Stopped = "no removable edge"
		return rec, nil
	}
	if err := s.trainAll(ctx, step, cands, archs, edges); err != nil {
		return StepRecord{}, err
	}
	best := 0
	for i := range cands {
		// Ties go to the cheaper topology, as the reference prefers fewer branches.
		if c, b := cands[i], cands[best]; c.Score > b.Score || (c.Score == b.Score && c.PredictedMS < b.PredictedMS) {
			best = i
		}
	}
	c := cands[best]
	s.cur = archs[best]
	snap := Snapshot{Step: step, Arch: c.Arch, Edges: s.cur.NumEdges(), Removed: c.Edge, ValAcc: c.ValAcc,
		PredictedMS: c.PredictedMS, Score: c.Score}
	s.st.Snapshots = append(s.st.Snapshots, snap)
	s.st.Stopped = s.stopReason(snap)
	rec.Snapshot, rec.Candidates, rec.Stopped = &snap, cands, s.st.Stopped
	rec.Seconds = time.Since(start).Seconds()
	return rec, nil
}

// stopReason says why the search ends after snap ("" to go on): the
// target is met and the score fell below the best snapshot under it.
func (s *Search) stopReason(snap Snapshot) string {
	if s.cfg.TargetMS <= 0 || snap.PredictedMS > s.cfg.TargetMS {
		return ""
	}
	for _, o := range s.st.Snapshots[:len(s.st.Snapshots)-1] {
		if o.PredictedMS <= s.cfg.TargetMS && o.Score > snap.Score {
			return fmt.Sprintf("target %.4g ms met and the score fell (%.4f after %.4f at step %d)", s.cfg.TargetMS, snap.Score, o.Score, o.Step)
		}
	}
	return ""
}

// trainAll trains every candidate on the proxy, Workers at a time; each
// candidate's seed depends only on the search seed, the step and the edge,
// so the result does not depend on the concurrency.
func (s *Search) trainAll(ctx context.Context, step int, cands []Candidate, archs []space.DAGArch, edges []space.Edge) error {
	workers := s.cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(cands))
	sem := make(chan struct{}, workers)
	for i := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			t0 := time.Now()
			e := s.cfg.Space.EdgeIndex(edges[i])
			seed := s.cfg.Seed*1_000_003 + uint64(step)*97 + uint64(e)
			res, err := TrainProxy(ctx, s.cfg.Proxy, s.proxy, archs[i], seed)
			if err != nil {
				errs[i] = fmt.Errorf("autoshrink step %d candidate -%s: %w", step, cands[i].Edge, err)
				cancel()
				return
			}
			cands[i].ProxyResult, cands[i].Seconds = res, time.Since(t0).Seconds()
			cands[i].Score = s.Score(res.ValAcc, cands[i].PredictedMS)
			if s.OnCandidate != nil {
				s.mu.Lock()
				s.OnCandidate(step, cands[i])
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshot stores the search state in a checkpoint.
func (s *Search) snapshot() (*nn.Checkpoint, error) {
	rb, err := s.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	s.st.Edges, s.st.RNG = s.cur.Edges, rb
	b, err := json.Marshal(s.st)
	if err != nil {
		return nil, err
	}
	return &nn.Checkpoint{Tensors: map[string][]float32{}, Slots: map[string][2][]float32{},
		Extra: map[string][]byte{"autoshrink": b}}, nil
}

// restore loads a checkpoint written by snapshot.
func (s *Search) restore(ck *nn.Checkpoint) error {
	var st state
	if err := json.Unmarshal(ck.Extra["autoshrink"], &st); err != nil {
		return fmt.Errorf("autoshrink checkpoint: %w", err)
	}
	a, err := s.cfg.Space.ParseDAG(space.DAGArch{Space: s.cfg.Space, Edges: st.Edges}.String())
	if err != nil || a.Edges != st.Edges {
		return fmt.Errorf("autoshrink checkpoint: topology %x is not a canonical topology of %s", st.Edges, s.cfg.Space.Name)
	}
	if err := s.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("autoshrink checkpoint: %w", err)
	}
	s.cur, s.st = a, st
	return nil
}

// Pick returns the snapshot the run proposes: the best score among the
// snapshots at or under the target (all snapshots without a target), ties
// to fewer edges; ok is false when no snapshot meets the target.
func Pick(snaps []Snapshot, targetMS float64) (Snapshot, bool) {
	var best Snapshot
	ok := false
	for _, sn := range snaps {
		if targetMS > 0 && sn.PredictedMS > targetMS {
			continue
		}
		if !ok || sn.Score > best.Score || (sn.Score == best.Score && sn.Edges < best.Edges) {
			best, ok = sn, true
		}
	}
	return best, ok
}

// Ranked lists snapshots best first: those meeting the target by score,
// then the others by predicted latency (closest to the target first).
func Ranked(snaps []Snapshot, targetMS float64) []Snapshot {
	out := append([]Snapshot(nil), snaps...)
	meets := func(s Snapshot) bool { return targetMS <= 0 || s.PredictedMS <= targetMS }
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if meets(a) != meets(b) {
			return meets(a)
		}
		if meets(a) {
			return a.Score > b.Score || (a.Score == b.Score && a.Edges < b.Edges)
		}
		return a.PredictedMS < b.PredictedMS
	})
	return out
}

// tag identifies everything that determines a search's steps.
func (c Config) tag() string {
	p := c.Proxy
	return fmt.Sprintf("autoshrink:%s:seed=%d:k=%d:coef=%g:target=%g:keep=%g:proxy=%d/%d/%d/%d/%g/%g/%d:latency=%s",
		c.Space.Name, c.Seed, c.K, c.Coef, c.TargetMS, c.KeepFraction, p.TrainPerClass, p.ValPerClass, p.Epochs, p.Batch,
		p.LR, p.WeightDecay, p.Patience, c.Latency.Name())
}
