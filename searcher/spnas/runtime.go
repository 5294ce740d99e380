package spnas

import (
	"fmt"

	"edgenas/lut"
	"edgenas/space"
)

// Runtime is the search's latency model: the Single-Path NAS formula of
// lut.SpaceRuntime extended with the SE path,
//
//	R = constant + sum_i [ R_layer_i(d5,d50,d100) + dSE*d50*SE_i(d5,d100) ]
//
// where SE_i is the bilinear interpolation of the four measured SE
// increments over (d5, d100), exact at every hard choice, and d50 removes
// the SE cost of a skipped layer.
type Runtime struct {
	*lut.SpaceRuntime
}

// NewRuntime checks the model fits the space.
func NewRuntime(rt *lut.SpaceRuntime) (*Runtime, error) {
	if rt == nil || rt.Space == nil {
		return nil, fmt.Errorf("spnas runtime: no space runtime")
	}
	if n := rt.Space.NumSearchable(); len(rt.R) != n || len(rt.SE) != n {
		return nil, fmt.Errorf("spnas runtime for %s: %d/%d table rows, space has %d searchable layers", rt.Space.Name, len(rt.R), len(rt.SE), n)
	}
	return &Runtime{rt}, nil
}

func (r *Runtime) seInc(i int, d Ind) (v, dd5, dd100 float64) {
	s := r.SE[i]
	a, b := d[I5], d[I100]
	v = (1-a)*(1-b)*s[lut.OpK3E3] + (1-a)*b*s[lut.OpK3E6] + a*(1-b)*s[lut.OpK5E3] + a*b*s[lut.OpK5E6]
	dd5 = (1-b)*(s[lut.OpK5E3]-s[lut.OpK3E3]) + b*(s[lut.OpK5E6]-s[lut.OpK3E6])
	dd100 = (1-a)*(s[lut.OpK3E6]-s[lut.OpK3E3]) + a*(s[lut.OpK5E6]-s[lut.OpK5E3])
	return v, dd5, dd100
}

// Eval returns the predicted runtime (ms) of relaxed or hard indicators and
// its gradient with respect to each indicator.
func (r *Runtime) Eval(ds []Ind) (float64, []Ind, error) {
	if len(ds) != len(r.R) {
		return 0, nil, fmt.Errorf("spnas runtime: %d layers of indicators, space has %d", len(ds), len(r.R))
	}
	li := make([]lut.Indicators, len(ds))
	for i, d := range ds {
		li[i] = lut.Indicators{D5: d[I5], D50: d[I50], D100: d[I100]}
	}
	total, err := r.SPNASTable.Runtime(li)
	if err != nil {
		return 0, nil, err
	}
	lg, err := r.SPNASTable.Gradient(li)
	if err != nil {
		return 0, nil, err
	}
	grad := make([]Ind, len(ds))
	for i, d := range ds {
		v, g5, g100 := r.seInc(i, d)
		total += d[ISE] * d[I50] * v
		grad[i] = Ind{
			I5:   lg[i].D5 + d[ISE]*d[I50]*g5,
			I50:  lg[i].D50 + d[ISE]*v,
			I100: lg[i].D100 + d[ISE]*d[I50]*g100,
			ISE:  d[I50] * v,
		}
	}
	return total, grad, nil
}

// Exact is the table sum of an architecture (skip costs 0, SE its measured
// increment): unlike the formula it is exact for k3e3 too, so it is what
// targets are checked against.
func (r *Runtime) Exact(a space.Arch) (float64, error) {
	if a.Space == nil || a.Space.Name != r.Space.Name || len(a.Choices) != len(r.R) {
		return 0, fmt.Errorf("spnas runtime: architecture is not of space %s", r.Space.Name)
	}
	total := r.Constant
	for i, c := range a.Choices {
		if c.Skip {
			continue
		}
		op, err := opIndex(c)
		if err != nil {
			return 0, fmt.Errorf("slot %d: %w", i, err)
		}
		total += r.R[i][op]
		if c.SE {
			total += r.SE[i][op]
		}
	}
	return total, nil
}

// Range is the fastest and slowest architecture's table runtime (the
// fastest skips where it can; both pick per slot independently).
func (r *Runtime) Range() (lo, hi float64) {
	lo, hi = r.Constant, r.Constant
	for i, sl := range r.Space.Slots() {
		mn, mx := r.R[i][0], r.R[i][0]
		for op := range 4 {
			mn = min(mn, r.R[i][op], r.R[i][op]+r.SE[i][op])
			mx = max(mx, r.R[i][op], r.R[i][op]+r.SE[i][op])
		}
		if sl.Skippable {
			mn = 0
		}
		lo += mn
		hi += mx
	}
	return lo, hi
}

func opIndex(c space.Choice) (int, error) {
	switch {
	case c.Kernel == 3 && c.Expand == 3:
		return lut.OpK3E3, nil
	case c.Kernel == 3 && c.Expand == 6:
		return lut.OpK3E6, nil
	case c.Kernel == 5 && c.Expand == 3:
		return lut.OpK5E3, nil
	case c.Kernel == 5 && c.Expand == 6:
		return lut.OpK5E6, nil
	}
	return 0, fmt.Errorf("choice %s is not one of k3e3 k3e6 k5e3 k5e6", c)
}
