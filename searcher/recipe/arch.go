package recipe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"edgenas/dataset/fmnist"
	"edgenas/nn"
	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// Arch is what the recipe needs of an architecture, so that chain
// architectures (Chain) and DAG topologies (DAG) train, reload and quantize
// through the one recipe.
type Arch interface {
	// SpaceName names the space the architecture is drawn from.
	SpaceName() string
	// String is the architecture's canonical string in its space.
	String() string
	MACs() int64
	Params() int64
	// Build returns the float network, its weights initialised from seed.
	Build(seed uint64) (*nn.Net, error)
	// Quantize folds net's batch norms, calibrates on calib images and
	// returns the int8 model.
	Quantize(net *nn.Net, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error)
}

// Chain is a chain-space architecture as the recipe trains it.
func Chain(a space.Arch) Arch { return chainArch{a} }

// DAG is a DAG-space topology as the recipe trains it.
func DAG(a space.DAGArch) Arch { return dagArch{a} }

type chainArch struct{ space.Arch }

func (a chainArch) SpaceName() string                  { return a.Space.Name }
func (a chainArch) Build(seed uint64) (*nn.Net, error) { return nn.Build(a.Arch, seed) }
func (a chainArch) Quantize(net *nn.Net, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error) {
	return nn.Quantize(net, a.Arch, calib, opts)
}

type dagArch struct{ space.DAGArch }

func (a dagArch) SpaceName() string                  { return a.Space.Name }
func (a dagArch) Build(seed uint64) (*nn.Net, error) { return nn.BuildDAG(a.DAGArch, seed) }
func (a dagArch) Quantize(net *nn.Net, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error) {
	return nn.QuantizeDAG(net, a.DAGArch, calib, opts)
}

// ParseArch decodes arch in the named space, chain or DAG.
func ParseArch(spaceName, arch string) (Arch, error) {
	if space.IsDAG(spaceName) {
		s, err := space.LookupDAG(spaceName)
		if err != nil {
			return nil, err
		}
		a, err := s.ParseDAG(arch)
		if err != nil {
			return nil, err
		}
		return DAG(a), nil
	}
	s, err := space.Lookup(spaceName)
	if err != nil {
		return nil, err
	}
	a, err := s.Parse(arch)
	if err != nil {
		return nil, err
	}
	return Chain(a), nil
}

// Trained is a network restored from a training directory.
type Trained struct {
	Dir    string
	Result Result
	Arch   Arch
	Net    *nn.Net
}

// LoadTrained restores the network a finished Train left in dir (its
// ResultFile names the space and architecture, CheckpointFile holds the
// weights and batch-norm statistics).
func LoadTrained(dir string) (*Trained, error) {
	t, err := loadTrained(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load trained %s: %w (is it an 'edgenas train' output directory whose training finished?)", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load trained %s: %w", dir, err)
	}
	return t, nil
}

func loadTrained(dir string) (*Trained, error) {
	res, err := ReadResult(dir)
	if err != nil {
		return nil, err
	}
	a, err := ParseArch(res.Space, res.Arch)
	if err != nil {
		return nil, err
	}
	net, err := a.Build(res.Seed)
	if err != nil {
		return nil, err
	}
	ck, err := nn.LoadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		return nil, err
	}
	if err := ck.Restore(net, nil); err != nil {
		return nil, err
	}
	return &Trained{Dir: dir, Result: res, Arch: a, Net: net}, nil
}

// Quantize folds the trained network's batch norms, calibrates on calib
// training images spread evenly over the split, and returns the int8 model
// (int8 input and output).
func (t *Trained) Quantize(train *fmnist.Set, calib int, opts quantize.CalibOptions) (*tflite.Model, error) {
	if calib <= 0 || calib > train.Len() {
		return nil, fmt.Errorf("quantize: --calib %d must be in 1..%d (training images)", calib, train.Len())
	}
	imgs := make([][]float32, calib)
	for i := range imgs {
		imgs[i] = train.Image(i * train.Len() / calib)
	}
	m, err := t.Arch.Quantize(t.Net, imgs, opts)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", t.Dir, err)
	}
	return m, nil
}
