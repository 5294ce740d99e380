package space

import (
	"fmt"
	"strings"
)

// NodeOp is the fixed operation of one cell node of a DAG space.
type NodeOp string

// Node operations of AutoShrink's CNN cell (each followed by batch norm; the
// activation is dropped on leaves, as the reference does).
const (
	// OpSep3 is a 3x3 depthwise-separable convolution: depthwise 3x3 + BN,
	// then pointwise 1x1 + BN + activation.
	OpSep3 NodeOp = "sep3x3"
	// OpConv1 is a 1x1 convolution + BN + activation.
	OpConv1 NodeOp = "conv1x1"
)

// DAGStage is a group of cells of one width. A stage with Pool opens with a
// 2x2 stride-2 2x2 average pool; a stage whose width differs from the tensor it gets
// opens with a 1x1 convolution to its width (see DAGSpace).
type DAGStage struct {
	Width int
	Cells int
	Pool  bool
}

// DAGSpace is an AutoShrink-style space: a macro skeleton (stem, stages of
// one repeated cell, head) where the searched thing is the cell's topology,
// a DAG over Nodes() nodes. Node 0 is the cell input; node j >= 1 applies
// Ops[j-1] to the sum of its inputs.
//
// Deviation from the reference (which concatenates): nodes merge their inputs
// with ADD and the cell output is the sum of the leaves plus the cell input
// (residual). int8 CONCATENATION forces one scale on all its inputs, while
// ADD rescales each; ADD also fixes every node's input width, so a node costs
// one latency-table entry whatever its in-degree, plus m-1 two-input ADDs for
// m inputs. Because ADD needs equal widths, the reference's stride-2
// 2x2 average pool in node 0 and its 1x1 residual projection become a transition in
// front of the cell (2x2 average pool, then 1x1 conv + BN + activation to the new
// width), so inside a cell every tensor has the stage's shape.
//
// Second deviation: down-sampling is a 2x2 average pool, not the
// reference's max-pool, because the reference int8 backend (runtime/ref)
// has no MAX_POOL_2D kernel; both are parameter-free and nearly free next to
// the convolutions, so the searched cells see the same shapes.
type DAGSpace struct {
	Name                   string
	InputH, InputW, InputC int
	// Stem is a 3x3 convolution with StemOut channels and stride StemStride.
	StemOut, StemStride int
	Stages              []DAGStage
	// Ops is the op of nodes 1..len(Ops): dealt once (near-equal numbers,
	// shuffled) and part of the space, so an architecture is only a topology.
	Ops []NodeOp
	// HeadOut is a 1x1 convolution before pooling (0: none).
	HeadOut int
	Classes int
	Act     string
}

// MaxDAGNodes bounds a DAG space's cell so an edge set fits in a uint64.
const MaxDAGNodes = 11

// DAGNames lists the built-in DAG spaces.
func DAGNames() []string { return []string{"autoshrink-fmnist", "autoshrink-imagenet"} }

// IsDAG reports whether name is a built-in DAG space.
func IsDAG(name string) bool {
	for _, n := range DAGNames() {
		if n == name {
			return true
		}
	}
	return false
}

// autoshrinkOps is the reference cell's deal: 7 op nodes, near-equal numbers
// of the two ops (4 separable, 3 pointwise), in an order drawn once.
var autoshrinkOps = [...]NodeOp{OpSep3, OpConv1, OpSep3, OpConv1, OpSep3, OpSep3, OpConv1}

// LookupDAG returns a fresh copy of a built-in DAG space by name.
func LookupDAG(name string) (*DAGSpace, error) {
	ops := append([]NodeOp(nil), autoshrinkOps[:]...)
	switch name {
	case "autoshrink-fmnist":
		// The reference's search skeleton (stride-1 stem, three one-cell
		// stages of widths 16/32/64, 2x2 average pool opening stages 2 and 3,
		// global pooling, classifier) at 28x28x1: 28 -> 14 -> 7.
		return &DAGSpace{
			Name: name, InputH: 28, InputW: 28, InputC: 1, StemOut: 16, StemStride: 1,
			Stages: []DAGStage{{Width: 16, Cells: 1}, {Width: 32, Cells: 1, Pool: true}, {Width: 64, Cells: 1, Pool: true}},
			Ops:    ops, Classes: 10, Act: "relu",
		}, nil
	case "autoshrink-imagenet":
		// ShrinkCNN's ImageNet skeleton: stem 3x3 stride 2, 44 channels;
		// five stages of 1/3/4/6/4 cells, widths 12/24/44/88/180, 2x2 average pool
		// opening stages 2-5 (112 -> 7); head 1x1 conv 1280.
		return &DAGSpace{
			Name: name, InputH: 224, InputW: 224, InputC: 3, StemOut: 44, StemStride: 2,
			Stages: []DAGStage{{Width: 12, Cells: 1}, {Width: 24, Cells: 3, Pool: true}, {Width: 44, Cells: 4, Pool: true},
				{Width: 88, Cells: 6, Pool: true}, {Width: 180, Cells: 4, Pool: true}},
			Ops: ops, HeadOut: 1280, Classes: 1000, Act: "relu",
		}, nil
	}
	return nil, fmt.Errorf("unknown DAG search space %q (known: %s)", name, strings.Join(DAGNames(), ", "))
}

// Nodes is the number of cell nodes, the input node included.
func (s *DAGSpace) Nodes() int { return len(s.Ops) + 1 }

// MaxEdges is the number of edges of the complete DAG.
func (s *DAGSpace) MaxEdges() int { n := s.Nodes(); return n * (n - 1) / 2 }

// Check verifies a space definition: sizes, ops, and even spatial sizes
// wherever a 2x2 average pool halves them.
func (s *DAGSpace) Check() error {
	n := s.Nodes()
	if n < 2 || n > MaxDAGNodes {
		return fmt.Errorf("DAG space %s: %d nodes, want 2..%d", s.Name, n, MaxDAGNodes)
	}
	for i, op := range s.Ops {
		if op != OpSep3 && op != OpConv1 {
			return fmt.Errorf("DAG space %s: node %d op %q is not %s or %s", s.Name, i+1, op, OpSep3, OpConv1)
		}
	}
	if s.InputH <= 0 || s.InputW <= 0 || s.InputC <= 0 || s.StemOut <= 0 || s.StemStride <= 0 || s.Classes <= 0 || len(s.Stages) == 0 {
		return fmt.Errorf("DAG space %s: sizes must be positive and there must be stages", s.Name)
	}
	h, w := convOut(s.InputH, s.StemStride), convOut(s.InputW, s.StemStride)
	for i, st := range s.Stages {
		if st.Width <= 0 || st.Cells <= 0 {
			return fmt.Errorf("DAG space %s: stage %d width %d cells %d", s.Name, i+1, st.Width, st.Cells)
		}
		if st.Pool {
			if h%2 != 0 || w%2 != 0 {
				return fmt.Errorf("DAG space %s: stage %d pools a %dx%d map (needs even sizes)", s.Name, i+1, h, w)
			}
			h, w = h/2, w/2
		}
	}
	return nil
}

// CellPos is where one cell of the skeleton sits and what precedes it.
type CellPos struct {
	Stage, InStage int
	// Pool is the 2x2 average pool opening the stage (nil: none); Transition the 1x1
	// convolution to the stage width (nil: none). Both precede the cell.
	Pool, Transition *Layer
	// H, W, C is the shape of every tensor inside the cell.
	H, W, C int
}

// CellPositions lists the skeleton's cells in order.
func (s *DAGSpace) CellPositions() []CellPos {
	h, w := convOut(s.InputH, s.StemStride), convOut(s.InputW, s.StemStride)
	c := s.StemOut
	var out []CellPos
	for si, st := range s.Stages {
		for ci := 0; ci < st.Cells; ci++ {
			p := CellPos{Stage: si, InStage: ci}
			if ci == 0 && st.Pool {
				p.Pool = &Layer{Kind: KindAvgPool2D, InH: h, InW: w, InC: c, OutH: h / 2, OutW: w / 2, OutC: c,
					Kernel: 2, Stride: 2, Slot: -1}
				h, w = h/2, w/2
			}
			if c != st.Width {
				p.Transition = &Layer{Kind: KindConv, InH: h, InW: w, InC: c, OutH: h, OutW: w, OutC: st.Width,
					Kernel: 1, Stride: 1, Act: s.Act, Slot: -1}
				c = st.Width
			}
			p.H, p.W, p.C = h, w, c
			out = append(out, p)
		}
	}
	return out
}

// Stem is the first layer.
func (s *DAGSpace) Stem() Layer {
	h, w := convOut(s.InputH, s.StemStride), convOut(s.InputW, s.StemStride)
	return Layer{Kind: KindConv, InH: s.InputH, InW: s.InputW, InC: s.InputC, OutH: h, OutW: w, OutC: s.StemOut,
		Kernel: 3, Stride: s.StemStride, Act: s.Act, Slot: -1}
}

// Tail is the head after the last cell: optional 1x1 convolution, global
// average pooling, classifier.
func (s *DAGSpace) Tail() []Layer {
	ps := s.CellPositions()
	last := ps[len(ps)-1]
	h, w, c := last.H, last.W, last.C
	var out []Layer
	if s.HeadOut > 0 {
		out = append(out, Layer{Kind: KindConv, InH: h, InW: w, InC: c, OutH: h, OutW: w, OutC: s.HeadOut,
			Kernel: 1, Stride: 1, Act: s.Act, Slot: -1})
		c = s.HeadOut
	}
	return append(out,
		Layer{Kind: KindPool, InH: h, InW: w, InC: c, OutH: 1, OutW: 1, OutC: c, Slot: -1},
		Layer{Kind: KindFC, InH: 1, InW: 1, InC: c, OutH: 1, OutW: 1, OutC: s.Classes, Slot: -1})
}

// NodeLayer is the layer node op makes on an HxWxC cell tensor; leaves have
// no activation.
func (s *DAGSpace) NodeLayer(op NodeOp, h, w, c int, leaf bool) Layer {
	act := s.Act
	if leaf {
		act = "none"
	}
	l := Layer{InH: h, InW: w, InC: c, OutH: h, OutW: w, OutC: c, Stride: 1, Act: act, Slot: -1}
	switch op {
	case OpSep3:
		l.Kind, l.Kernel = KindSepConv, 3
	default:
		l.Kind, l.Kernel = KindConv, 1
	}
	return l
}

// AddLayer is a two-input ADD of HxWxC tensors.
func AddLayer(h, w, c int) Layer {
	return Layer{Kind: KindAdd, InH: h, InW: w, InC: c, OutH: h, OutW: w, OutC: c, Stride: 1, Slot: -1}
}

// UniqueKeys returns every distinct layer a topology of the space can
// contain (stem, transitions, each op with and without activation at every
// cell shape, the ADD, head), sorted by key: the microbenchmarks a latency
// table for the space needs.
func (s *DAGSpace) UniqueKeys() []Layer {
	seen := map[string]Layer{}
	add := func(l Layer) { seen[l.Key()] = l }
	add(s.Stem())
	for _, p := range s.CellPositions() {
		for _, l := range []*Layer{p.Pool, p.Transition} {
			if l != nil {
				add(*l)
			}
		}
		for _, op := range []NodeOp{OpSep3, OpConv1} {
			add(s.NodeLayer(op, p.H, p.W, p.C, false))
			add(s.NodeLayer(op, p.H, p.W, p.C, true))
		}
		add(AddLayer(p.H, p.W, p.C))
	}
	for _, l := range s.Tail() {
		add(l)
	}
	return sortedLayers(seen)
}

// KeysOf returns every latency-table key of a built-in space of either kind
// (chain or DAG): what a profile of the space measures.
func KeysOf(name string) ([]Layer, error) {
	if IsDAG(name) {
		s, err := LookupDAG(name)
		if err != nil {
			return nil, err
		}
		return s.UniqueKeys(), nil
	}
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return s.UniqueKeys(), nil
}
