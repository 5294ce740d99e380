package nn

import (
	"math"
	"testing"
)

func TestOptimizerSteps(t *testing.T) {
	// One weight at 1 with gradient 0.5 every step, lr 0.1; expected values
	// worked by hand from each method's update rule.
	cases := []struct {
		name    string
		cfg     OptConfig
		noDecay bool
		want    []float64 // weight after each step
	}{
		{"sgd", OptConfig{Kind: "sgd"}, false, []float64{0.95, 0.90}},
		{"sgd_momentum", OptConfig{Kind: "sgd", Momentum: 0.9}, false, []float64{0.95, 0.855}},
		{"sgd_nesterov", OptConfig{Kind: "sgd", Momentum: 0.9, Nesterov: true}, false, []float64{0.905, 0.7695}},
		// g = 0.5 + 0.1*w: 0.6 then 0.5+0.094 = 0.594.
		{"sgd_weight_decay", OptConfig{Kind: "sgd", WeightDecay: 0.1}, false, []float64{0.94, 0.8806}},
		{"sgd_no_decay_param", OptConfig{Kind: "sgd", WeightDecay: 0.1}, true, []float64{0.95, 0.90}},
		// ms = 0.9*1 + 0.1*0.25 = 0.925; w = 1 - 0.1*0.5/sqrt(0.926).
		// ms2 = 0.9*0.925+0.025 = 0.8575; w2 = w1 - 0.05/sqrt(0.8585).
		{"rmsprop", OptConfig{Kind: "rmsprop"}, false, []float64{1 - 0.05/math.Sqrt(0.926), 1 - 0.05/math.Sqrt(0.926) - 0.05/math.Sqrt(0.8585)}},
		// Momentum 0.5: mom2 = 0.5*mom1 + 0.05/sqrt(0.8585).
		{"rmsprop_momentum", OptConfig{Kind: "rmsprop", Momentum: 0.5}, false, []float64{1 - 0.05/math.Sqrt(0.926),
			1 - 0.05/math.Sqrt(0.926) - (0.5*0.05/math.Sqrt(0.926) + 0.05/math.Sqrt(0.8585))}},
		// Constant gradient: mhat = 0.5, vhat = 0.25 every step, so each step is lr.
		{"adam", OptConfig{Kind: "adam"}, false, []float64{0.9, 0.8}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newParam("w", c.noDecay, 1)
			p.W[0] = 1
			o, err := NewOptimizer(c.cfg, []*Param{p})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range c.want {
				p.G[0] = 0.5
				o.Step(0.1)
				if math.Abs(float64(p.W[0])-want) > 1e-5 { // float32 arithmetic
					t.Fatalf("step %d: w = %.7f, want %.7f", i+1, p.W[0], want)
				}
			}
		})
	}
}

func TestOptimizerConfigErrors(t *testing.T) {
	for _, cfg := range []OptConfig{{Kind: "lamb"}, {Kind: "sgd", Momentum: 1}, {Kind: "adam", Beta2: -0.1}, {Kind: "sgd", WeightDecay: -1}} {
		if _, err := NewOptimizer(cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := NewOptimizer(OptConfig{Kind: "sgd"}, []*Param{newBuffer("running", 3)}); err == nil {
		t.Errorf("optimizer over a non-trainable buffer accepted")
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		name string
		s    Schedule
		at   map[int]float64
	}{
		{"constant", Schedule{Kind: "constant", Base: 0.3}, map[int]float64{0: 0.3, 1000: 0.3}},
		{"cosine", Schedule{Kind: "cosine", Base: 1, Total: 10}, map[int]float64{0: 1, 5: 0.5, 10: 0, 20: 0}},
		{"cosine_min", Schedule{Kind: "cosine", Base: 1, Total: 10, Min: 0.2}, map[int]float64{5: 0.6, 10: 0.2}},
		{"cosine_warmup", Schedule{Kind: "cosine", Base: 1, Warmup: 2, Total: 12}, map[int]float64{0: 0.5, 1: 1, 2: 1, 7: 0.5}},
		{"exponential", Schedule{Kind: "exponential", Base: 1, Rate: 0.5, Every: 2}, map[int]float64{0: 1, 2: 0.5, 3: math.Sqrt(0.125), 4: 0.25}},
		{"exponential_staircase", Schedule{Kind: "exponential", Base: 1, Rate: 0.5, Every: 2, Staircase: true}, map[int]float64{1: 1, 3: 0.5, 4: 0.25}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); err != nil {
				t.Fatal(err)
			}
			for step, want := range c.at {
				if got := c.s.LR(step); math.Abs(got-want) > 1e-12 {
					t.Errorf("LR(%d) = %v, want %v", step, got, want)
				}
			}
		})
	}
	for _, bad := range []Schedule{{Kind: "step", Base: 1}, {Kind: "cosine", Base: 1, Total: 0}, {Kind: "exponential", Base: 1, Rate: 2, Every: 1}, {Kind: "constant"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
