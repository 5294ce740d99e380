package spnas

import (
	"fmt"
	"math"
)

// DualAscent finds the latency-loss weight lambda for a runtime target T:
// it treats "log R <= log T" as a constraint of min CE and runs dual ascent
// on its multiplier, lambda <- max(Min, lambda + Eta*(log R - log T)), once
// per search step while the latency loss is on. R is the table runtime of
// the architecture the thresholds currently decode to (a hard, exact
// number; the indicators' gradients still come from the differentiable
// formula).
type DualAscent struct {
	// Target is T in ms.
	Target float64
	// Eta is the dual step size per search step.
	Eta float64
	// Min floors lambda (0: an inequality constraint, as in the paper's
	// "runtime at most T"; a negative floor lets the controller push the
	// architecture back up when it undershoots, an equality constraint).
	Min float64
	// Lambda is the current multiplier.
	Lambda float64
}

// NewDualAscent checks the target and step size.
func NewDualAscent(target, eta, lambda0, floor float64) (*DualAscent, error) {
	if !(target > 0) || math.IsInf(target, 0) {
		return nil, fmt.Errorf("dual ascent: target %v ms must be positive", target)
	}
	if !(eta >= 0) || math.IsInf(eta, 0) {
		return nil, fmt.Errorf("dual ascent: step %v must be non-negative", eta)
	}
	if lambda0 < floor {
		return nil, fmt.Errorf("dual ascent: initial lambda %v below floor %v", lambda0, floor)
	}
	return &DualAscent{Target: target, Eta: eta, Min: floor, Lambda: lambda0}, nil
}

// Update takes one dual step for runtime r (ms) and returns the new lambda.
func (d *DualAscent) Update(r float64) float64 {
	if r > 0 {
		d.Lambda = max(d.Min, d.Lambda+d.Eta*(math.Log(r)-math.Log(d.Target)))
	}
	return d.Lambda
}

// Within reports whether r is within a relative tolerance of the target.
func (d *DualAscent) Within(r, tol float64) bool {
	return math.Abs(r-d.Target) <= tol*d.Target
}

// latencyTerm returns R (formula, at the indicators the forward used) and
// d(lambda*log R)/dD per layer.
func latencyTerm(rt *Runtime, ds []Ind, lambda float64) (float64, []Ind, error) {
	r, g, err := rt.Eval(ds)
	if err != nil {
		return 0, nil, err
	}
	for i := range g {
		for k := range NumIndicators {
			g[i][k] *= lambda / r
		}
	}
	return r, g, nil
}

// Landing picks the architecture a targeted search returns. Dual ascent
// makes the decoded architecture oscillate around the target across a
// discrete set of runtimes, so the last step may sit just outside the
// tolerance on either side: Landing keeps the last architecture seen within
// the tolerance, and the one closest to the target (in log ratio) as a
// fallback when none was.
type Landing struct {
	Target, Tol float64
	last        string
	lastR       float64
	closest     string
	closestR    float64
	seen        bool
}

// Observe records the architecture decoded at one step and its runtime.
func (l *Landing) Observe(arch string, r float64) {
	if !(r > 0) {
		return
	}
	if math.Abs(r-l.Target) <= l.Tol*l.Target {
		l.last, l.lastR = arch, r
	}
	if !l.seen || math.Abs(math.Log(r/l.Target)) < math.Abs(math.Log(l.closestR/l.Target)) {
		l.closest, l.closestR, l.seen = arch, r, true
	}
}

// Result returns the chosen architecture, its runtime, and whether it is
// within the tolerance; ok is false when nothing was observed.
func (l *Landing) Result() (arch string, r float64, within, ok bool) {
	if l.last != "" {
		return l.last, l.lastR, true, true
	}
	return l.closest, l.closestR, false, l.seen
}
