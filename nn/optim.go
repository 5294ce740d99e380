package nn

import (
	"fmt"
	"math"
)

// OptConfig selects and tunes an optimizer. Zero fields take the defaults
// noted; weight decay is L2 added to the gradient (W*WeightDecay) of every
// Param without NoDecay, the TensorFlow EfficientNet convention.
type OptConfig struct {
	// Kind is "sgd", "rmsprop" or "adam".
	Kind string
	// Momentum for sgd and rmsprop (0: none).
	Momentum float64
	// Nesterov selects Nesterov momentum for sgd.
	Nesterov bool
	// Rho is the rmsprop squared-gradient decay (default 0.9).
	Rho float64
	// Beta1, Beta2 are Adam's moment decays (defaults 0.9, 0.999).
	Beta1, Beta2 float64
	// Eps is the denominator guard (defaults: rmsprop 1e-3, adam 1e-8).
	Eps float64
	// WeightDecay is the L2 coefficient.
	WeightDecay float64
}

func (c OptConfig) withDefaults() (OptConfig, error) {
	switch c.Kind {
	case "sgd":
	case "rmsprop":
		if c.Rho == 0 {
			c.Rho = 0.9
		}
		if c.Eps == 0 {
			c.Eps = 1e-3
		}
	case "adam":
		if c.Beta1 == 0 {
			c.Beta1 = 0.9
		}
		if c.Beta2 == 0 {
			c.Beta2 = 0.999
		}
		if c.Eps == 0 {
			c.Eps = 1e-8
		}
	default:
		return c, fmt.Errorf("optimizer %q: want sgd, rmsprop or adam", c.Kind)
	}
	for _, v := range []float64{c.Momentum, c.Rho, c.Beta1, c.Beta2} {
		if v < 0 || v >= 1 {
			return c, fmt.Errorf("optimizer %s: decay/momentum %v outside [0,1)", c.Kind, v)
		}
	}
	if c.Eps < 0 || c.WeightDecay < 0 {
		return c, fmt.Errorf("optimizer %s: negative eps or weight decay", c.Kind)
	}
	return c, nil
}

// Optimizer updates a fixed list of Params from their gradients. Its state
// (Steps and the per-parameter slots) is what a checkpoint saves.
type Optimizer struct {
	Cfg    OptConfig
	Steps  int64
	params []*Param
	// Slots are per-parameter state: sgd momentum; rmsprop mean square and
	// momentum; adam first and second moments.
	Slots [2][][]float32
}

// NewOptimizer returns an optimizer over params. RMSProp's mean square
// starts at 1, as in TF1's RMSPropOptimizer used by the Single-Path NAS and
// EfficientNet references (starting at 0 makes the first steps ~3x lr).
func NewOptimizer(cfg OptConfig, params []*Param) (*Optimizer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	o := &Optimizer{Cfg: cfg, params: params}
	for s := range o.Slots {
		o.Slots[s] = make([][]float32, len(params))
		for i, p := range params {
			if p.G == nil {
				return nil, fmt.Errorf("optimizer: %s has no gradient (not trainable)", p.Name)
			}
			o.Slots[s][i] = make([]float32, len(p.W))
			if cfg.Kind == "rmsprop" && s == 0 {
				for j := range o.Slots[s][i] {
					o.Slots[s][i][j] = 1
				}
			}
		}
	}
	return o, nil
}

// Params is the list the optimizer updates.
func (o *Optimizer) Params() []*Param { return o.params }

// Step applies one update with learning rate lr.
func (o *Optimizer) Step(lr float64) {
	o.Steps++
	c := o.Cfg
	for i, p := range o.params {
		wd := float32(c.WeightDecay)
		if p.NoDecay {
			wd = 0
		}
		s0, s1 := o.Slots[0][i], o.Slots[1][i]
		switch c.Kind {
		case "sgd":
			o.sgd(p, s0, float32(lr), wd)
		case "rmsprop":
			rho, mu, eps, l := float32(c.Rho), float32(c.Momentum), float32(c.Eps), float32(lr)
			for j, w := range p.W {
				g := p.G[j] + wd*w
				s0[j] = rho*s0[j] + (1-rho)*g*g
				s1[j] = mu*s1[j] + l*g/float32(math.Sqrt(float64(s0[j]+eps)))
				p.W[j] = w - s1[j]
			}
		case "adam":
			b1, b2, eps := float32(c.Beta1), float32(c.Beta2), float32(c.Eps)
			t := float64(o.Steps)
			l := float32(lr * math.Sqrt(1-math.Pow(c.Beta2, t)) / (1 - math.Pow(c.Beta1, t)))
			// Bias corrections folded into the step size; eps scaled so the
			// result equals mhat/(sqrt(vhat)+eps).
			e := eps * float32(math.Sqrt(1-math.Pow(c.Beta2, t)))
			for j, w := range p.W {
				g := p.G[j] + wd*w
				s0[j] = b1*s0[j] + (1-b1)*g
				s1[j] = b2*s1[j] + (1-b2)*g*g
				p.W[j] = w - l*s0[j]/(float32(math.Sqrt(float64(s1[j])))+e)
			}
		}
	}
}

func (o *Optimizer) sgd(p *Param, v []float32, lr, wd float32) {
	mu := float32(o.Cfg.Momentum)
	for j, w := range p.W {
		g := p.G[j] + wd*w
		if mu == 0 {
			p.W[j] = w - lr*g
			continue
		}
		v[j] = mu*v[j] + g
		if o.Cfg.Nesterov {
			p.W[j] = w - lr*(g+mu*v[j])
		} else {
			p.W[j] = w - lr*v[j]
		}
	}
}

// Schedule is a learning-rate schedule with optional linear warmup.
type Schedule struct {
	// Kind is "constant", "cosine" or "exponential".
	Kind string
	// Base is the peak learning rate (reached at the end of warmup).
	Base float64
	// Warmup is the number of linear-warmup steps from 0 to Base.
	Warmup int
	// Total is the cosine schedule's length; after it the rate stays at Min.
	Total int
	// Min is the cosine floor.
	Min float64
	// Rate and Every: exponential decay Base*Rate^(t/Every), t counted after
	// warmup; Staircase floors t/Every (TF's staircase=True).
	Rate      float64
	Every     float64
	Staircase bool
}

// Validate reports a schedule that cannot produce sensible rates.
func (s Schedule) Validate() error {
	if s.Base <= 0 || s.Warmup < 0 {
		return fmt.Errorf("schedule: base %v must be positive, warmup %d non-negative", s.Base, s.Warmup)
	}
	switch s.Kind {
	case "constant":
	case "cosine":
		if s.Total <= s.Warmup || s.Min < 0 || s.Min > s.Base {
			return fmt.Errorf("cosine schedule: want total > warmup and 0 <= min <= base, got total %d warmup %d min %v", s.Total, s.Warmup, s.Min)
		}
	case "exponential":
		if s.Rate <= 0 || s.Rate > 1 || s.Every <= 0 {
			return fmt.Errorf("exponential schedule: want 0 < rate <= 1 and every > 0, got %v, %v", s.Rate, s.Every)
		}
	default:
		return fmt.Errorf("schedule %q: want constant, cosine or exponential", s.Kind)
	}
	return nil
}

// LR is the learning rate for 0-based step.
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	t := float64(step - s.Warmup)
	switch s.Kind {
	case "cosine":
		n := float64(s.Total - s.Warmup)
		if t >= n {
			return s.Min
		}
		return s.Min + (s.Base-s.Min)*0.5*(1+math.Cos(math.Pi*t/n))
	case "exponential":
		e := t / s.Every
		if s.Staircase {
			e = math.Floor(e)
		}
		return s.Base * math.Pow(s.Rate, e)
	}
	return s.Base
}
