package spnas

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"edgenas/dataset/fmnist"
	"edgenas/nn"
)

// Config is a search recipe. Zero fields take the defaults of
// DefaultConfig; the schedule is counted in epochs over the (fractional)
// training set, as the paper counts it (8 epochs, latency loss and
// indicator dropout switching at epoch 5).
type Config struct {
	Epochs   float64 // search epochs (8)
	DataFrac float64 // fraction of the training split per epoch (0.1)
	Batch    int     // minibatch size (64)
	Seed     uint64
	LR       float64 // peak RMSProp learning rate, weights and thresholds alike (0.01)
	// WeightDecay applies to weights, not thresholds or batch-norm affine.
	WeightDecay float64 // 1e-5
	Smoothing   float32 // label smoothing (0.1)
	// LatencyEpoch is when the latency loss switches on; DropoutEpoch when
	// indicator dropout (keep probability Keep) switches off.
	LatencyEpoch, DropoutEpoch float64 // 5, 5
	Keep                       float64 // 0.6
	// Lambda is the fixed latency weight when TargetMS is 0.
	Lambda float64
	// TargetMS > 0 finds lambda by dual ascent with step Eta (0.02),
	// starting from Lambda, and lands within Tol (0.05) of the target.
	TargetMS, Eta, Tol float64
	// LambdaFloor is the dual ascent's lower bound on lambda (0).
	LambdaFloor float64
}

// DefaultConfig is the short search recipe used for the comparison: the
// paper's 8 epochs and switch points, on 10% of the training split per epoch.
func DefaultConfig() Config {
	return Config{Epochs: 8, DataFrac: 0.1, Batch: 64, LR: 0.01, WeightDecay: 1e-5, Smoothing: 0.1,
		LatencyEpoch: 5, DropoutEpoch: 5, Keep: 0.6, Eta: 0.02, Tol: 0.05}
}

func (c Config) validate() error {
	switch {
	case !(c.Epochs > 0):
		return fmt.Errorf("search: epochs %v must be positive", c.Epochs)
	case !(c.DataFrac > 0 && c.DataFrac <= 1):
		return fmt.Errorf("search: data fraction %v outside (0,1]", c.DataFrac)
	case c.Batch <= 0:
		return fmt.Errorf("search: batch %d must be positive", c.Batch)
	case !(c.LR > 0):
		return fmt.Errorf("search: learning rate %v must be positive", c.LR)
	case !(c.Keep > 0 && c.Keep <= 1):
		return fmt.Errorf("search: dropout keep %v outside (0,1]", c.Keep)
	case c.TargetMS < 0 || c.Lambda < 0 || c.Eta < 0 || c.Tol < 0:
		return fmt.Errorf("search: negative target, lambda, eta or tolerance")
	}
	return nil
}

// StepLog is one line of the search log.
type StepLog struct {
	Step   int     `json:"step"`
	Epoch  float64 `json:"epoch"`
	LR     float64 `json:"lr"`
	Loss   float64 `json:"loss"` // CE + lambda*log(R)
	CE     float64 `json:"ce"`
	Acc    float64 `json:"accuracy"` // training minibatch
	Lambda float64 `json:"lambda"`
	// RuntimeMS is the formula at the indicators the step used (dropout
	// included); ArchMS the table runtime of the decoded architecture.
	RuntimeMS  float64                  `json:"runtime_ms"`
	ArchMS     float64                  `json:"arch_ms"`
	LatencyOn  bool                     `json:"latency_on"`
	Arch       string                   `json:"arch"`
	Thresholds [][NumIndicators]float32 `json:"thresholds"`
}

// Searcher runs Single-Path NAS on a supernet, one step at a time.
type Searcher struct {
	Cfg   Config
	Net   *Supernet
	RT    *Runtime
	Opt   *nn.Optimizer
	Sched nn.Schedule
	Data  *fmnist.Batcher
	Dual  *DualAscent // nil without a target
	Land  *Landing    // nil without a target
	Step  int
	// Total, LatencyStep and DropoutStep are the schedule in steps.
	Total, LatencyStep, DropoutStep int
	images                          int
	x                               []float32
	y                               []int
}

// NewSearcher builds the supernet and optimizer for a search over train.
func NewSearcher(cfg Config, rt *Runtime, train *fmnist.Set) (*Searcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if rt == nil || train == nil || train.Len() == 0 {
		return nil, fmt.Errorf("search: no runtime model or no training data")
	}
	n := int(math.Round(cfg.DataFrac * float64(train.Len())))
	if n < cfg.Batch {
		return nil, fmt.Errorf("search: data fraction %v gives %d images, less than one batch of %d", cfg.DataFrac, n, cfg.Batch)
	}
	sn, err := NewSupernet(rt.Space, cfg.Seed)
	if err != nil {
		return nil, err
	}
	sn.Net.Loss.Smoothing = cfg.Smoothing
	opt, err := nn.NewOptimizer(nn.OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: cfg.WeightDecay}, sn.Net.Params())
	if err != nil {
		return nil, err
	}
	data, err := fmnist.NewBatcher(train.Slice(0, n), cfg.Batch, cfg.Seed)
	if err != nil {
		return nil, err
	}
	perEpoch := float64(n / cfg.Batch)
	s := &Searcher{Cfg: cfg, Net: sn, RT: rt, Opt: opt, Data: data,
		Total:       max(1, int(math.Round(cfg.Epochs*perEpoch))),
		LatencyStep: int(math.Round(cfg.LatencyEpoch * perEpoch)),
		DropoutStep: int(math.Round(cfg.DropoutEpoch * perEpoch)),
		images:      n, x: make([]float32, cfg.Batch*fmnist.Pixels), y: make([]int, cfg.Batch)}
	s.Sched = nn.Schedule{Kind: "cosine", Base: cfg.LR, Warmup: min(s.Total/20, 200), Total: s.Total, Min: cfg.LR / 100}
	if err := s.Sched.Validate(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if cfg.TargetMS > 0 {
		if lo, hi := rt.Range(); cfg.TargetMS < lo*(1-cfg.Tol) || cfg.TargetMS > hi*(1+cfg.Tol) {
			return nil, fmt.Errorf("search: target %.3f ms is outside the space's range %.3f-%.3f ms", cfg.TargetMS, lo, hi)
		}
		if s.Dual, err = NewDualAscent(cfg.TargetMS, cfg.Eta, max(cfg.Lambda, cfg.LambdaFloor), cfg.LambdaFloor); err != nil {
			return nil, err
		}
		s.Land = &Landing{Target: cfg.TargetMS, Tol: cfg.Tol}
	}
	return s, nil
}

// Done reports whether the schedule is complete.
func (s *Searcher) Done() bool { return s.Step >= s.Total }

// Lambda is the current latency weight.
func (s *Searcher) Lambda() float64 {
	if s.Dual != nil {
		return s.Dual.Lambda
	}
	return s.Cfg.Lambda
}

// TrainStep runs one search step: forward/backward of the supernet with
// dropout early, the latency term on the indicators once it is on, the
// straight-through threshold gradients, one RMSProp step on everything,
// and (with a target) one dual-ascent step on lambda.
func (s *Searcher) TrainStep() (StepLog, error) {
	s.Net.Ctl.Keep = 1
	if s.Step < s.DropoutStep {
		s.Net.Ctl.Keep = s.Cfg.Keep
	}
	s.Data.Next(s.x, s.y)
	ce, correct, err := s.Net.Net.TrainStep(s.x, s.y)
	if err != nil {
		return StepLog{}, fmt.Errorf("search step %d: %w", s.Step, err)
	}
	on := s.Step >= s.LatencyStep
	lambda := 0.0
	if on {
		lambda = s.Lambda()
	}
	r, lg, err := latencyTerm(s.RT, s.Net.Used(), lambda)
	if err != nil {
		return StepLog{}, fmt.Errorf("search step %d: %w", s.Step, err)
	}
	for i, b := range s.Net.Blocks {
		b.IndicatorBackward(lg[i])
	}
	lr := s.Sched.LR(s.Step)
	s.Opt.Step(lr)
	log := StepLog{Step: s.Step, Epoch: float64(s.Step) * float64(s.Cfg.Batch) / float64(s.images), LR: lr,
		CE: ce, Loss: ce + lambda*math.Log(r), Acc: float64(correct) / float64(len(s.y)), Lambda: lambda,
		RuntimeMS: r, LatencyOn: on, Thresholds: s.Net.Thresholds()}
	arch := s.Net.Arch()
	log.Arch = arch.String()
	if log.ArchMS, err = s.RT.Exact(arch); err != nil {
		return StepLog{}, fmt.Errorf("search step %d: %w", s.Step, err)
	}
	if on && s.Dual != nil {
		s.Land.Observe(log.Arch, log.ArchMS)
		s.Dual.Update(log.ArchMS)
	}
	s.Step++
	return log, nil
}

// Result is a finished (or interrupted) search's outcome.
type Result struct {
	Arch string `json:"arch"`
	// TableMS is the chosen architecture's table runtime; FormulaMS the
	// differentiable formula's value for it.
	TableMS   float64 `json:"table_ms"`
	FormulaMS float64 `json:"formula_ms"`
	TargetMS  float64 `json:"target_ms,omitempty"`
	Within    bool    `json:"within_tolerance"`
	// FinalArch is what the thresholds decode to after the last step (the
	// chosen Arch differs when the last step sat outside the tolerance).
	FinalArch string  `json:"final_arch"`
	Lambda    float64 `json:"lambda"`
	Steps     int     `json:"steps"`
}

// Result reports the searched architecture: with a target, the landing
// rule's choice (see Landing); otherwise the final decoded architecture.
func (s *Searcher) Result() (Result, error) {
	final := s.Net.Arch()
	res := Result{Arch: final.String(), FinalArch: final.String(), Lambda: s.Lambda(), Steps: s.Step}
	if s.Land != nil {
		res.TargetMS = s.Cfg.TargetMS
		if a, _, within, ok := s.Land.Result(); ok {
			res.Arch, res.Within = a, within
		}
	}
	a, err := s.RT.Space.Parse(res.Arch)
	if err != nil {
		return Result{}, fmt.Errorf("search result: %w", err)
	}
	if res.TableMS, err = s.RT.Exact(a); err != nil {
		return Result{}, err
	}
	if p, err := s.RT.Predict(a); err == nil {
		res.FormulaMS = p.Millis
	}
	if s.Land == nil || res.TargetMS == 0 {
		res.Within = false
	}
	return res, nil
}

// searchState is the checkpoint's caller state beyond weights and optimizer.
type searchState struct {
	Epoch, Pos      int
	Lambda          float64
	Land            landingState
	Dropout         []byte
	TargetMS, Total float64
}

type landingState struct {
	Last, Closest   string
	LastR, ClosestR float64
	Seen            bool
}

// Snapshot copies the whole search state (supernet, thresholds, optimizer,
// data position, dropout RNG, lambda, landing) into a checkpoint.
func (s *Searcher) Snapshot() (*nn.Checkpoint, error) {
	ck, err := nn.Snapshot(s.tag(), int64(s.Step), s.Net.Net, s.Opt)
	if err != nil {
		return nil, err
	}
	st := searchState{Lambda: s.Lambda(), TargetMS: s.Cfg.TargetMS, Total: float64(s.Total)}
	st.Epoch, st.Pos = s.Data.State()
	if s.Land != nil {
		l := s.Land
		st.Land = landingState{l.last, l.closest, l.lastR, l.closestR, l.seen}
	}
	if st.Dropout, err = s.Net.dropSrc.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("search checkpoint: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("search checkpoint: %w", err)
	}
	ck.Extra["search"] = b
	return ck, nil
}

// tag names the search in checkpoints so a resume with another recipe is refused.
func (s *Searcher) tag() string {
	c := s.Cfg
	return fmt.Sprintf("spnas-search:%s:epochs=%g:frac=%g:batch=%d:seed=%d:target=%g:lambda=%g", s.RT.Space.Name, c.Epochs, c.DataFrac, c.Batch, c.Seed, c.TargetMS, c.Lambda)
}

// Restore loads a checkpoint taken by Snapshot of the same search recipe.
func (s *Searcher) Restore(ck *nn.Checkpoint) error {
	if ck.Arch != s.tag() {
		return fmt.Errorf("checkpoint is of search %q, this run is %q", ck.Arch, s.tag())
	}
	var st searchState
	if err := json.Unmarshal(ck.Extra["search"], &st); err != nil {
		return fmt.Errorf("search state: %w", err)
	}
	if err := ck.Restore(s.Net.Net, s.Opt); err != nil {
		return err
	}
	if err := s.Data.SetState(st.Epoch, st.Pos); err != nil {
		return err
	}
	if err := s.Net.dropSrc.UnmarshalBinary(st.Dropout); err != nil {
		return fmt.Errorf("dropout rng: %w", err)
	}
	if s.Dual != nil {
		s.Dual.Lambda = st.Lambda
		l := st.Land
		s.Land.last, s.Land.closest, s.Land.lastR, s.Land.closestR, s.Land.seen = l.Last, l.Closest, l.LastR, l.ClosestR, l.Seen
	}
	s.Step = int(ck.Step)
	return nil
}

// newDropSource is the supernet's dropout RNG source, kept so checkpoints
// can save its state.
func newDropSource(seed uint64) *rand.PCG { return rand.NewPCG(seed, 0x64726f70) }
