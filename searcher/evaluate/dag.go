package evaluate

import "edgenas/space"

// parsedArch is a run candidate decoded in its space: a chain
// architecture (parsed) or a DAG topology (dag), and its canonical string.
type parsedArch struct {
	Arch   string
	parsed space.Arch
	dag    *space.DAGArch
}

// archParser returns the decoder of architecture strings of a space of
// either kind.
func archParser(name string) (func(string) (parsedArch, error), error) {
	if space.IsDAG(name) {
		s, err := space.LookupDAG(name)
		if err != nil {
			return nil, err
		}
		return func(str string) (parsedArch, error) {
			a, err := s.ParseDAG(str)
			if err != nil {
				return parsedArch{}, err
			}
			return parsedArch{Arch: a.String(), dag: &a}, nil
		}, nil
	}
	s, err := space.Lookup(name)
	if err != nil {
		return nil, err
	}
	return func(str string) (parsedArch, error) {
		a, err := s.Parse(str)
		if err != nil {
			return parsedArch{}, err
		}
		return parsedArch{Arch: a.String(), parsed: a}, nil
	}, nil
}
