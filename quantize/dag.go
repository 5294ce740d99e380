package quantize

import (
	"fmt"
	"math/rand/v2"

	"edgenas/space"
	"edgenas/tflite"
)

// DAGNode is one live op node of a DAG cell with its float parameters (BN
// folded): a separable node has Depthwise [1,3,3,C] and Pointwise
// [C,1,1,C]; a 1x1 node has Conv [C,1,1,C].
type DAGNode struct {
	Node space.CellNode
	Spec space.Layer
	// Depthwise and Pointwise are set for space.KindSepConv, Conv for KindConv.
	Depthwise, Pointwise, Conv *Weights
}

// DAGCell is one cell of the skeleton: the transition in front (2x2 average pool,
// 1x1 convolution with weights Transition when the width changes) and the
// live nodes in topological order.
type DAGCell struct {
	Pos        space.CellPos
	Transition *Weights
	Nodes      []DAGNode
}

// DAGNet is the float network of a DAG-space architecture.
type DAGNet struct {
	Arch  space.DAGArch
	Stem  *Weights
	Cells []DAGCell
	// Head is the optional 1x1 convolution before pooling.
	Head    *Weights
	FC      *Weights
	Softmax bool
}

// NewDAGNet lays out the network of a with zero weights of the right shapes.
func NewDAGNet(a space.DAGArch) (*DAGNet, error) {
	s := a.Space
	if s == nil {
		return nil, fmt.Errorf("quantize: DAG architecture has no space")
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if a.NumEdges() == 0 {
		return nil, fmt.Errorf("quantize: %s topology has no edges", s.Name)
	}
	convW := func(l space.Layer) *Weights {
		return newWeights(int32(l.OutC), int32(l.Kernel), int32(l.Kernel), int32(l.InC))
	}
	stem := s.Stem()
	n := &DAGNet{Arch: a, Stem: convW(stem)}
	nodes := a.CellNodes()
	for _, p := range s.CellPositions() {
		c := DAGCell{Pos: p}
		if p.Transition != nil {
			c.Transition = convW(*p.Transition)
		}
		for _, cn := range nodes {
			l := s.NodeLayer(cn.Op, p.H, p.W, p.C, cn.Leaf)
			dn := DAGNode{Node: cn, Spec: l}
			if l.Kind == space.KindSepConv {
				dn.Depthwise = newWeights(1, int32(l.Kernel), int32(l.Kernel), int32(l.InC))
				dn.Pointwise = newWeights(int32(l.OutC), 1, 1, int32(l.InC))
			} else {
				dn.Conv = convW(l)
			}
			c.Nodes = append(c.Nodes, dn)
		}
		n.Cells = append(n.Cells, c)
	}
	tail := s.Tail()
	if s.HeadOut > 0 {
		n.Head = convW(tail[0])
	}
	fc := tail[len(tail)-1]
	n.FC = newWeights(int32(fc.OutC), int32(fc.InC))
	return n, n.Check()
}

// Check verifies every weight has the shape its layer needs.
func (n *DAGNet) Check() error {
	s := n.Arch.Space
	conv := func(what string, w *Weights, l space.Layer) error {
		return wrap(what, w.check(int32(l.OutC), int32(l.Kernel), int32(l.Kernel), int32(l.InC)))
	}
	if err := conv("stem", n.Stem, s.Stem()); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	ps := s.CellPositions()
	if len(n.Cells) != len(ps) {
		return fmt.Errorf("quantize: %d cells, the skeleton has %d", len(n.Cells), len(ps))
	}
	for i, c := range n.Cells {
		if p := ps[i]; p.Transition != nil {
			if err := conv(fmt.Sprintf("cell %d transition", i), c.Transition, *p.Transition); err != nil {
				return fmt.Errorf("quantize: %w", err)
			}
		}
		for _, dn := range c.Nodes {
			what := fmt.Sprintf("cell %d node %d", i, dn.Node.Index)
			var err error
			if dn.Spec.Kind == space.KindSepConv {
				err = wrap(what+" depthwise", dn.Depthwise.check(1, 3, 3, int32(dn.Spec.InC)))
				if err == nil {
					err = wrap(what+" pointwise", dn.Pointwise.check(int32(dn.Spec.OutC), 1, 1, int32(dn.Spec.InC)))
				}
			} else {
				err = conv(what, dn.Conv, dn.Spec)
			}
			if err != nil {
				return fmt.Errorf("quantize: %w", err)
			}
		}
	}
	tail := s.Tail()
	if s.HeadOut > 0 {
		if err := conv("head", n.Head, tail[0]); err != nil {
			return fmt.Errorf("quantize: %w", err)
		}
	}
	fc := tail[len(tail)-1]
	return wrap("quantize: fc", n.FC.check(int32(fc.OutC), int32(fc.InC)))
}

// RandomDAGNet lays out a's network and fills it with random weights scaled
// like RandomNet's: unit-variance pre-activations, leaves (the cell's
// residual branches) at total variance 1/4 so the residual stream grows
// slowly. The same architecture and seed give the same network.
func RandomDAGNet(a space.DAGArch, seed uint64) (*DAGNet, error) {
	n, err := NewDAGNet(a)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x7175616e74646167))
	const relu = 0.5
	fill(rng, n.Stem, 1, 1.0/3)
	m2 := relu
	leaves := len(a.Leaves())
	for i := range n.Cells {
		c := &n.Cells[i]
		if c.Transition != nil {
			fill(rng, c.Transition, 1, m2)
			m2 = relu
		}
		out := map[int]float64{0: m2}
		for j := range c.Nodes {
			dn := &c.Nodes[j]
			in := 0.0
			for _, k := range dn.Node.Inputs {
				in += out[k]
			}
			target := 1.0
			if dn.Node.Leaf {
				target = 0.25 / float64(leaves)
			}
			if dn.Depthwise != nil {
				fill(rng, dn.Depthwise, 1, in)
				fill(rng, dn.Pointwise, target, 1)
			} else {
				fill(rng, dn.Conv, target, in)
			}
			out[dn.Node.Index] = relu
			if dn.Node.Leaf {
				out[dn.Node.Index] = target
			}
		}
		m2 += 0.25
	}
	if n.Head != nil {
		fill(rng, n.Head, 1, m2)
		m2 = relu
	}
	fill(rng, n.FC, 1, min(m2, 0.25))
	return n, nil
}

// FloatModel builds the FLOAT32 TFLite graph: stem CONV_2D; per cell
// AVERAGE_POOL_2D and transition CONV_2D where the skeleton has them, then per
// live node ADDs merging its inputs and its op (DEPTHWISE_CONV_2D ->
// CONV_2D 1x1, or CONV_2D 1x1; no activation on leaves), then ADDs summing
// the leaves and the cell input; head CONV_2D, MEAN, FULLY_CONNECTED.
func (n *DAGNet) FloatModel() (*tflite.Model, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	s := n.Arch.Space
	act, err := activation(s.Act)
	if err != nil {
		return nil, fmt.Errorf("quantize: %s: %w", s.Name, err)
	}
	shape := func(h, w, c int) []int32 { return []int32{1, int32(h), int32(w), int32(c)} }
	g := newGraph("edgenas")
	cur := g.tensor("input", tflite.Float32, shape(s.InputH, s.InputW, s.InputC), nil)
	g.m.Inputs = []int{cur}
	st := s.Stem()
	cur = g.conv("stem/conv", cur, n.Stem, st.Stride, act, shape(st.OutH, st.OutW, st.OutC))
	for i := range n.Cells {
		cur = g.dagCell(fmt.Sprintf("cell%d", i), &n.Cells[i], cur, act)
	}
	tail := s.Tail()
	if n.Head != nil {
		h := tail[0]
		cur = g.conv("head/conv", cur, n.Head, 1, act, shape(h.OutH, h.OutW, h.OutC))
	}
	fc := tail[len(tail)-1]
	cur = g.mean("pool", cur, fc.InC)
	cur = g.fc("fc", cur, n.FC, tflite.ActNone, []int32{1, int32(fc.OutC)})
	return g.finish(cur, n.Softmax)
}

func (g *graph) avgPool2D(name string, in int, l space.Layer) int {
	o := g.tensor(name, tflite.Float32, []int32{1, int32(l.OutH), int32(l.OutW), int32(l.OutC)}, nil)
	k, st := int32(l.Kernel), int32(l.Stride)
	return g.op(tflite.OpAveragePool2D, &tflite.Pool2DOptions{Padding: tflite.PaddingValid, StrideW: st, StrideH: st,
		FilterWidth: k, FilterHeight: k}, o, in)
}

func (g *graph) add(name string, a, b int) int {
	o := g.tensor(name, tflite.Float32, append([]int32(nil), g.m.Tensors[a].Shape...), nil)
	return g.op(tflite.OpAdd, &tflite.AddOptions{}, o, a, b)
}

// sepConv emits a separable node: DEPTHWISE_CONV_2D (no activation), then
// the pointwise CONV_2D with the node's activation.
func (g *graph) sepConv(name string, in int, dw, pw *Weights, l space.Layer, act tflite.Activation) int {
	sh := []int32{1, int32(l.OutH), int32(l.OutW), int32(l.InC)}
	x := g.depthwise(name+"/dw", in, dw, l.Stride, tflite.ActNone, sh)
	sh[3] = int32(l.OutC)
	return g.conv(name+"/pw", x, pw, 1, act, sh)
}

func (g *graph) dagCell(name string, c *DAGCell, in int, act tflite.Activation) int {
	p := c.Pos
	if p.Pool != nil {
		in = g.avgPool2D(name+"/pool", in, *p.Pool)
	}
	if p.Transition != nil {
		in = g.conv(name+"/transition", in, c.Transition, 1, act, []int32{1, int32(p.H), int32(p.W), int32(p.C)})
	}
	outs := map[int]int{0: in}
	var leaves []int
	for _, dn := range c.Nodes {
		nn := fmt.Sprintf("%s/n%d", name, dn.Node.Index)
		x := outs[dn.Node.Inputs[0]]
		for k, src := range dn.Node.Inputs[1:] {
			x = g.add(fmt.Sprintf("%s/merge%d", nn, k), x, outs[src])
		}
		nact := act
		if dn.Node.Leaf {
			nact = tflite.ActNone
		}
		if dn.Depthwise != nil {
			x = g.sepConv(nn, x, dn.Depthwise, dn.Pointwise, dn.Spec, nact)
		} else {
			x = g.conv(nn+"/conv", x, dn.Conv, 1, nact, []int32{1, int32(p.H), int32(p.W), int32(p.C)})
		}
		outs[dn.Node.Index] = x
		if dn.Node.Leaf {
			leaves = append(leaves, x)
		}
	}
	out := leaves[0]
	for k, l := range leaves[1:] {
		out = g.add(fmt.Sprintf("%s/leaves%d", name, k), out, l)
	}
	return g.add(name+"/residual", out, in)
}

// DAGModel builds the int8 model of a DAG architecture with random weights
// from seed, calibrated on random inputs like ArchModel.
func DAGModel(a space.DAGArch, seed uint64) (*tflite.Model, error) {
	n, err := RandomDAGNet(a, seed)
	if err != nil {
		return nil, err
	}
	fm, err := n.FloatModel()
	if err != nil {
		return nil, fmt.Errorf("architecture %s: %w", a, err)
	}
	m, err := calibrateRandom(fm, a.Layers(), seed, GenOptions{})
	if err != nil {
		return nil, fmt.Errorf("architecture %s: %w", a, err)
	}
	m.Description = fmt.Sprintf("edgenas %s %s seed %d", a.Space.Name, a, seed)
	return m, nil
}

// calibrateRandom is the tail of Generate: calibrate fm on seeded random
// inputs and quantize it.
func calibrateRandom(fm *tflite.Model, layers []space.Layer, seed uint64, opts GenOptions) (*tflite.Model, error) {
	samples := RandomInputs(fm, opts.samples(layers), seed, opts.inputRange(layers))
	ranges, err := Calibrate(fm, samples, opts.Calib)
	if err != nil {
		return nil, err
	}
	return Quantize(fm, ranges, opts.Quant)
}

// isDAGKind reports whether LayerModel builds k with dagLayerModel.
func isDAGKind(k space.Kind) bool {
	return k == space.KindSepConv || k == space.KindAdd || k == space.KindAvgPool2D
}

// dagLayerModel is LayerModel for the DAG layer kinds. The ADD
// microbenchmark adds its input to itself: the kernel does the same work as
// on two tensors, and a one-input model runs wherever the others do.
func dagLayerModel(l space.Layer, seed uint64) (*tflite.Model, error) {
	if l.InH <= 0 || l.InW <= 0 || l.InC <= 0 || l.OutH <= 0 || l.OutW <= 0 || l.OutC <= 0 {
		return nil, fmt.Errorf("quantize: layer %s: shapes must be positive", l.Key())
	}
	g := newGraph("edgenas")
	in := g.tensor("input", tflite.Float32, []int32{1, int32(l.InH), int32(l.InW), int32(l.InC)}, nil)
	g.m.Inputs = []int{in}
	var out int
	switch l.Kind {
	case space.KindSepConv:
		act, err := activation(l.Act)
		if err != nil {
			return nil, fmt.Errorf("quantize: layer %s: %w", l.Key(), err)
		}
		if l.Kernel < 1 || l.Stride < 1 || tflite.ConvOutputSize(l.InH, l.Kernel, l.Stride, 1, tflite.PaddingSame) != l.OutH {
			return nil, fmt.Errorf("quantize: layer %s: output size does not follow from kernel and stride", l.Key())
		}
		rng := rand.New(rand.NewPCG(seed, 0x7365706c61796572))
		dw := newWeights(1, int32(l.Kernel), int32(l.Kernel), int32(l.InC))
		pw := newWeights(int32(l.OutC), 1, 1, int32(l.InC))
		fill(rng, dw, 1, 1.0/3)
		fill(rng, pw, 1, 1)
		out = g.sepConv("sep", in, dw, pw, l, act)
	case space.KindAdd:
		out = g.add("add", in, in)
	case space.KindAvgPool2D:
		if l.Kernel < 1 || l.Stride < 1 || l.OutH != (l.InH-l.Kernel)/l.Stride+1 || l.OutC != l.InC {
			return nil, fmt.Errorf("quantize: layer %s: output shape does not follow from a VALID pool", l.Key())
		}
		out = g.avgPool2D("pool", in, l)
	default:
		return nil, fmt.Errorf("quantize: layer kind %q is not a DAG kind", l.Kind)
	}
	fm, err := g.finish(out, false)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Key(), err)
	}
	m, err := calibrateRandom(fm, []space.Layer{l}, seed, GenOptions{})
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Key(), err)
	}
	m.Description = fmt.Sprintf("edgenas layer %s seed %d", l.Key(), seed)
	return m, nil
}
