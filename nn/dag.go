package nn

import (
	"fmt"
	"math/rand/v2"

	"edgenas/space"
)

// DAGNode is one live op node of a Cell: its layers run in order on the sum
// of its inputs. A separable node is depthwise 3x3, BN, pointwise 1x1, BN
// with the activation; a 1x1 node is conv 1x1, BN with the activation;
// leaves have no activation.
type DAGNode struct {
	Node   space.CellNode
	Layers []Layer
	sum    Tensor // the merged input (owned: Layers keep a reference to it)
}

// Cell is a DAG cell as one Layer: node 0 is the input, node j applies its
// layers to the sum of its inputs, and the output is the sum of the leaves
// plus the input (see space.DAGSpace).
type Cell struct {
	Nodes []*DAGNode
	x     *Tensor
	outs  map[int]*Tensor
	y     Tensor
	grads map[int]*Tensor
}

// NewCell builds the cell of topology a on C-channel tensors.
func NewCell(name string, a space.DAGArch, c int, act Act, rng *rand.Rand) (*Cell, error) {
	if a.Space == nil || a.NumEdges() == 0 {
		return nil, fmt.Errorf("cell %s: empty topology", name)
	}
	if c <= 0 {
		return nil, fmt.Errorf("cell %s: %d channels", name, c)
	}
	cell := &Cell{outs: map[int]*Tensor{}, grads: map[int]*Tensor{0: {}}}
	for _, cn := range a.CellNodes() {
		nn := fmt.Sprintf("%s/n%d", name, cn.Index)
		nact := act
		if cn.Leaf {
			nact = ActNone
		}
		dn := &DAGNode{Node: cn}
		switch cn.Op {
		case space.OpSep3:
			dn.Layers = []Layer{NewDepthwise(nn+"/dw", c, 3, 1, rng), NewBatchNorm(nn+"/dw_bn", c, ActNone),
				NewConv(nn+"/pw", c, c, 1, 1, rng), NewBatchNorm(nn+"/pw_bn", c, nact)}
		case space.OpConv1:
			dn.Layers = []Layer{NewConv(nn+"/conv", c, c, 1, 1, rng), NewBatchNorm(nn+"/bn", c, nact)}
		default:
			return nil, fmt.Errorf("cell %s: node %d op %q", name, cn.Index, cn.Op)
		}
		cell.Nodes = append(cell.Nodes, dn)
		cell.grads[cn.Index] = &Tensor{}
	}
	return cell, nil
}

// addInto sets dst to the shape of a and, with acc, adds a into it; without,
// copies a.
func addInto(dst, a *Tensor, acc bool) {
	if !acc {
		dst.Ensure(a.N, a.H, a.W, a.C)
		copy(dst.Data, a.Data)
		return
	}
	for i, v := range a.Data {
		dst.Data[i] += v
	}
}

// Forward runs the nodes in topological order.
func (c *Cell) Forward(x *Tensor, train bool) *Tensor {
	c.x = x
	c.outs[0] = x
	for _, dn := range c.Nodes {
		for k, in := range dn.Node.Inputs {
			addInto(&dn.sum, c.outs[in], k > 0)
		}
		t := &dn.sum
		for _, l := range dn.Layers {
			t = l.Forward(t, train)
		}
		c.outs[dn.Node.Index] = t
	}
	addInto(&c.y, x, false)
	for _, dn := range c.Nodes {
		if dn.Node.Leaf {
			addInto(&c.y, c.outs[dn.Node.Index], true)
		}
	}
	return &c.y
}

// Backward sends dy to the input and the leaves, then each node's gradient
// back through its layers to every one of its inputs, in reverse order.
func (c *Cell) Backward(dy *Tensor) *Tensor {
	seen := map[int]bool{0: true}
	addInto(c.grads[0], dy, false)
	for _, dn := range c.Nodes {
		if dn.Node.Leaf {
			addInto(c.grads[dn.Node.Index], dy, false)
			seen[dn.Node.Index] = true
		}
	}
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		dn := c.Nodes[i]
		d := c.grads[dn.Node.Index]
		for k := len(dn.Layers) - 1; k >= 0; k-- {
			d = dn.Layers[k].Backward(d)
		}
		for _, in := range dn.Node.Inputs {
			addInto(c.grads[in], d, seen[in])
			seen[in] = true
		}
	}
	return c.grads[0]
}

// Params lists the nodes' trainable tensors in node order.
func (c *Cell) Params() []*Param {
	var ps []*Param
	for _, dn := range c.Nodes {
		for _, l := range dn.Layers {
			ps = append(ps, l.Params()...)
		}
	}
	return ps
}

// Buffers lists the nodes' batch-norm statistics in node order.
func (c *Cell) Buffers() []*Param {
	var ps []*Param
	for _, dn := range c.Nodes {
		for _, l := range dn.Layers {
			ps = append(ps, l.Buffers()...)
		}
	}
	return ps
}

// AvgPool2 is a 2x2 stride-2 average pool (even input sizes).
type AvgPool2 struct {
	x     *Tensor
	y, dx Tensor
}

// Forward averages each 2x2 block.
func (p *AvgPool2) Forward(x *Tensor, train bool) *Tensor {
	p.x = x
	oh, ow, c := x.H/2, x.W/2, x.C
	p.y.Ensure(x.N, oh, ow, c)
	for n := range x.N {
		for oy := range oh {
			for ox := range ow {
				o := p.y.Data[((n*oh+oy)*ow+ox)*c:][:c]
				for ch := range o {
					var s float32
					for dy := range 2 {
						for dx := range 2 {
							s += x.Data[((n*x.H+2*oy+dy)*x.W+2*ox+dx)*c+ch]
						}
					}
					o[ch] = s / 4
				}
			}
		}
	}
	return &p.y
}

// Backward spreads a quarter of each output gradient over its block.
func (p *AvgPool2) Backward(dy *Tensor) *Tensor {
	x := p.x
	oh, ow, c := x.H/2, x.W/2, x.C
	p.dx.Ensure(x.N, x.H, x.W, x.C)
	clear(p.dx.Data)
	for n := range x.N {
		for oy := range oh {
			for ox := range ow {
				g := dy.Data[((n*oh+oy)*ow+ox)*c:][:c]
				for ch, v := range g {
					for a := range 2 {
						for b := range 2 {
							p.dx.Data[((n*x.H+2*oy+a)*x.W+2*ox+b)*c+ch] = v / 4
						}
					}
				}
			}
		}
	}
	return &p.dx
}

// Params returns nothing.
func (p *AvgPool2) Params() []*Param { return nil }

// Buffers returns nothing.
func (p *AvgPool2) Buffers() []*Param { return nil }

// BuildDAG makes the trainable network of a DAG-space topology, initialised
// from seed: stem conv+BN+act; per cell the 2x2 average pool and the 1x1
// transition conv+BN+act where the skeleton has them, then the Cell; head
// conv+BN+act when the space has one; global average pooling; classifier.
func BuildDAG(a space.DAGArch, seed uint64) (*Net, error) {
	s := a.Space
	if s == nil {
		return nil, fmt.Errorf("build: DAG architecture has no space")
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	act, ok := ParseAct(s.Act)
	if !ok {
		return nil, fmt.Errorf("build %s: unknown activation %q", s.Name, s.Act)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e646167))
	net := NewNet(s.InputH, s.InputW, s.InputC, s.Classes)
	convBN := func(name string, l space.Layer) {
		net.Layers = append(net.Layers, NewConv(name, l.InC, l.OutC, l.Kernel, l.Stride, rng), NewBatchNorm(name+"/bn", l.OutC, act))
	}
	convBN("stem", s.Stem())
	for i, p := range s.CellPositions() {
		if p.Pool != nil {
			net.Layers = append(net.Layers, &AvgPool2{})
		}
		if p.Transition != nil {
			convBN(fmt.Sprintf("cell%d/transition", i), *p.Transition)
		}
		cell, err := NewCell(fmt.Sprintf("cell%d", i), a, p.C, act, rng)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.Name, err)
		}
		net.Layers = append(net.Layers, cell)
	}
	tail := s.Tail()
	if s.HeadOut > 0 {
		convBN("head", tail[0])
	}
	fc := tail[len(tail)-1]
	net.Layers = append(net.Layers, &GlobalAvgPool{}, NewDense("fc", fc.InC, fc.OutC, rng))
	return net, nil
}
