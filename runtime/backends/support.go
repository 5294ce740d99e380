package backends

import (
	"fmt"

	"edgenas/runtime"
	"edgenas/tflite"
)

// OpVerdict is whether one backend runs one operator.
type OpVerdict struct {
	Index int    `json:"index"`
	Op    string `json:"op"`
	OK    bool   `json:"ok"`
	// Reason is where the operator runs when OK ("xnnpack", "ref",
	// "ref fallback: ...") and why not otherwise.
	Reason string `json:"reason"`
}

// BackendSupport is which operators of a model one backend runs.
type BackendSupport struct {
	Backend string      `json:"backend"`
	Runs    int         `json:"runs"`
	Ops     []OpVerdict `json:"ops"`
	// Unavailable says why the backend is not in this build ("" if it is).
	Unavailable string `json:"unavailable,omitempty"`
}

// Support asks every backend edgenas knows, operator by operator, whether
// it runs m (for `model inspect`). A backend missing from this build is
// listed with Unavailable set.
func Support(m *tflite.Model) ([]BackendSupport, error) {
	var out []BackendSupport
	avail := map[string]bool{}
	for _, n := range Available() {
		avail[n] = true
	}
	for _, name := range Names() {
		b, err := Lookup(name)
		if err != nil {
			return nil, err
		}
		bs := BackendSupport{Backend: name}
		if !avail[name] {
			bs.Unavailable = "not in this build"
			out = append(out, bs)
			continue
		}
		s, ok := b.(runtime.Supporter)
		if !ok {
			return nil, fmt.Errorf("backend %s cannot say which operators it runs", name)
		}
		for i := range m.Operators {
			ok, reason := s.Supports(m, i)
			bs.Ops = append(bs.Ops, OpVerdict{Index: i, Op: m.Operators[i].Name(), OK: ok, Reason: reason})
			if ok {
				bs.Runs++
			}
		}
		out = append(out, bs)
	}
	return out, nil
}

// Check returns an error naming every operator of m that backend name
// cannot run (a *runtime.UnsupportedError), or nil. It loads nothing, so
// callers can refuse a model before doing anything with it.
func Check(name string, m *tflite.Model) error {
	b, err := Lookup(name)
	if err != nil {
		return err
	}
	s, ok := b.(runtime.Supporter)
	if !ok {
		return fmt.Errorf("backend %s cannot say which operators it runs", name)
	}
	return runtime.CheckSupported(name, s, m)
}
