package space

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Edge is a cell edge From -> To (From < To).
type Edge struct{ From, To int }

// String is the edge's token, "From-To".
func (e Edge) String() string { return fmt.Sprintf("%d-%d", e.From, e.To) }

// DAGArch is a cell topology of a DAG space: a set of edges of the upper
// triangular adjacency, with every edge out of a node unreachable from node
// 0 pruned (such nodes are dead and cost nothing). Every cell of the
// skeleton uses the same topology.
//
// Its string is the comma-separated list of live edges in row-major order,
// "0-1,0-2,1-3,...": the readable form of the Nodes*(Nodes-1)/2-bit upper
// triangle. ParseDAG decodes it, here and nowhere else.
type DAGArch struct {
	Space *DAGSpace
	// Edges has bit EdgeIndex(e) set for every live edge e.
	Edges uint64
}

// EdgeIndex is the row-major position of edge i->j in the upper triangle.
func (s *DAGSpace) EdgeIndex(e Edge) int {
	n := s.Nodes()
	return e.From*n - e.From*(e.From+1)/2 + (e.To - e.From - 1)
}

// AllEdges lists the complete DAG's edges in row-major order.
func (s *DAGSpace) AllEdges() []Edge {
	var out []Edge
	for i := 0; i < s.Nodes(); i++ {
		for j := i + 1; j < s.Nodes(); j++ {
			out = append(out, Edge{i, j})
		}
	}
	return out
}

// Full is the complete DAG, where the shrinking search starts.
func (s *DAGSpace) Full() DAGArch {
	return DAGArch{Space: s, Edges: 1<<uint(s.MaxEdges()) - 1}
}

// ParseDAG decodes a topology string: "full", or edge tokens "i-j" with
// 0 <= i < j < Nodes, no repeats, at least one. Edges out of dead nodes are
// pruned (String gives the canonical form); a topology with no live edge is
// an error.
func (s *DAGSpace) ParseDAG(str string) (DAGArch, error) {
	t := strings.TrimSpace(str)
	if t == "full" {
		return s.Full(), nil
	}
	if t == "" {
		return DAGArch{}, fmt.Errorf("empty topology for %s: list edges like 0-1,0-2,1-3 (or 'full')", s.Name)
	}
	toks := strings.Split(t, ",")
	if len(toks) > s.MaxEdges() {
		return DAGArch{}, fmt.Errorf("topology for %s has %d edge tokens, the complete DAG has %d", s.Name, len(toks), s.MaxEdges())
	}
	a := DAGArch{Space: s}
	for _, tok := range toks {
		e, err := s.parseEdge(tok)
		if err != nil {
			return DAGArch{}, err
		}
		bit := uint64(1) << uint(s.EdgeIndex(e))
		if a.Edges&bit != 0 {
			return DAGArch{}, fmt.Errorf("edge %s listed twice", e)
		}
		a.Edges |= bit
	}
	a = a.pruned()
	if a.Edges == 0 {
		return DAGArch{}, fmt.Errorf("topology %q has no edge reachable from node 0", t)
	}
	return a, nil
}

func (s *DAGSpace) parseEdge(tok string) (Edge, error) {
	t := strings.TrimSpace(tok)
	from, to, ok := strings.Cut(t, "-")
	if !ok {
		return Edge{}, fmt.Errorf("edge token %q is not FROM-TO (e.g. 0-3)", tok)
	}
	i, err1 := strconv.Atoi(from)
	j, err2 := strconv.Atoi(to)
	if err1 != nil || err2 != nil {
		return Edge{}, fmt.Errorf("edge token %q: nodes must be integers", tok)
	}
	if i < 0 || j >= s.Nodes() || i >= j {
		return Edge{}, fmt.Errorf("edge token %q: want 0 <= FROM < TO < %d", tok, s.Nodes())
	}
	return Edge{i, j}, nil
}

// ParseOrRandomDAG parses str, or samples from seed when str is "random".
func (s *DAGSpace) ParseOrRandomDAG(str string, seed uint64) (DAGArch, error) {
	if strings.TrimSpace(str) == "random" {
		return s.RandomDAGSeed(seed), nil
	}
	return s.ParseDAG(str)
}

// Has reports whether edge e is live.
func (a DAGArch) Has(e Edge) bool { return a.Edges&(1<<uint(a.Space.EdgeIndex(e))) != 0 }

// EdgeList lists the live edges in row-major order.
func (a DAGArch) EdgeList() []Edge {
	var out []Edge
	for _, e := range a.Space.AllEdges() {
		if a.Has(e) {
			out = append(out, e)
		}
	}
	return out
}

// NumEdges is the number of live edges.
func (a DAGArch) NumEdges() int { return bits.OnesCount64(a.Edges) }

// String is the canonical topology string.
func (a DAGArch) String() string {
	es := a.EdgeList()
	toks := make([]string, len(es))
	for i, e := range es {
		toks[i] = e.String()
	}
	return strings.Join(toks, ",")
}

// live marks the nodes reachable from node 0.
func (a DAGArch) live() []bool {
	n := a.Space.Nodes()
	l := make([]bool, n)
	l[0] = true
	for i := 0; i < n; i++ {
		if !l[i] {
			continue
		}
		for j := i + 1; j < n; j++ {
			if a.Has(Edge{i, j}) {
				l[j] = true
			}
		}
	}
	return l
}

// pruned drops the edges out of dead nodes.
func (a DAGArch) pruned() DAGArch {
	l := a.live()
	for _, e := range a.Space.AllEdges() {
		if !l[e.From] && a.Has(e) {
			a.Edges &^= 1 << uint(a.Space.EdgeIndex(e))
		}
	}
	return a
}

// Without removes a live edge and prunes the nodes it leaves dead: one
// shrinking step. Removing the last edge is an error (a cell needs a node).
func (a DAGArch) Without(e Edge) (DAGArch, error) {
	if e.From < 0 || e.To >= a.Space.Nodes() || e.From >= e.To || !a.Has(e) {
		return DAGArch{}, fmt.Errorf("edge %s is not a live edge of %s", e, a)
	}
	b := a
	b.Edges &^= 1 << uint(a.Space.EdgeIndex(e))
	b = b.pruned()
	if b.Edges == 0 {
		return DAGArch{}, fmt.Errorf("removing %s leaves no edge", e)
	}
	return b, nil
}

// CellNode is one live op node of a topology.
type CellNode struct {
	Index int
	Op    NodeOp
	// Inputs are the live predecessors, ascending (node 0 is the cell input).
	Inputs []int
	// Leaf: no live successor; leaves sum into the cell output.
	Leaf bool
}

// CellNodes lists the live op nodes in topological (index) order.
func (a DAGArch) CellNodes() []CellNode {
	n := a.Space.Nodes()
	l := a.live()
	var out []CellNode
	for j := 1; j < n; j++ {
		if !l[j] {
			continue
		}
		cn := CellNode{Index: j, Op: a.Space.Ops[j-1], Leaf: true}
		for i := 0; i < j; i++ {
			if a.Has(Edge{i, j}) {
				cn.Inputs = append(cn.Inputs, i)
			}
		}
		for k := j + 1; k < n; k++ {
			if a.Has(Edge{j, k}) {
				cn.Leaf = false
			}
		}
		out = append(out, cn)
	}
	return out
}

// Leaves lists the live nodes whose outputs form the cell output.
func (a DAGArch) Leaves() []int {
	var out []int
	for _, cn := range a.CellNodes() {
		if cn.Leaf {
			out = append(out, cn.Index)
		}
	}
	return out
}

// RandomDAG samples a topology: a uniform edge count in [1, MaxEdges], that
// many distinct edges uniformly, then pruning (so the count may drop).
func (s *DAGSpace) RandomDAG(rng *rand.Rand) DAGArch {
	return s.RandomDAGEdges(rng, 1+rng.IntN(s.MaxEdges()))
}

// RandomDAGEdges samples m distinct edges uniformly (m clamped to
// [1, MaxEdges]) and prunes, redrawing until an edge is live.
func (s *DAGSpace) RandomDAGEdges(rng *rand.Rand, m int) DAGArch {
	m = max(1, min(m, s.MaxEdges()))
	for {
		a := DAGArch{Space: s}
		for _, k := range rng.Perm(s.MaxEdges())[:m] {
			a.Edges |= 1 << uint(k)
		}
		if a = a.pruned(); a.Edges != 0 {
			return a
		}
	}
}

// RandomDAGSeed samples a topology from a seed (the same seed gives the same topology).
func (s *DAGSpace) RandomDAGSeed(seed uint64) DAGArch {
	return s.RandomDAG(rand.New(rand.NewPCG(seed, 0x64616773)))
}

// Layers decodes the architecture into every concrete layer the network
// runs, in execution order: stem; per cell, its 2x2 average pool and transition,
// then for each live node the m-1 ADDs merging its m inputs and its op,
// then one ADD per leaf (summing the leaves and the residual); head.
// It is what MACs, parameters and latency-table sums are computed from.
func (a DAGArch) Layers() []Layer {
	s := a.Space
	out := []Layer{s.Stem()}
	nodes := a.CellNodes()
	for _, p := range s.CellPositions() {
		for _, l := range []*Layer{p.Pool, p.Transition} {
			if l != nil {
				out = append(out, *l)
			}
		}
		add := AddLayer(p.H, p.W, p.C)
		for _, cn := range nodes {
			for range len(cn.Inputs) - 1 {
				out = append(out, add)
			}
			out = append(out, s.NodeLayer(cn.Op, p.H, p.W, p.C, cn.Leaf))
		}
		for range a.Leaves() {
			out = append(out, add)
		}
	}
	return append(out, s.Tail()...)
}

// MACs is the architecture's multiply-accumulate count.
func (a DAGArch) MACs() int64 { return sumLayers(a.Layers(), Layer.MACs) }

// Params is the architecture's weight and bias count.
func (a DAGArch) Params() int64 { return sumLayers(a.Layers(), Layer.Params) }

func sumLayers(ls []Layer, f func(Layer) int64) int64 {
	var n int64
	for _, l := range ls {
		n += f(l)
	}
	return n
}

func sortedLayers(seen map[string]Layer) []Layer {
	out := make([]Layer, 0, len(seen))
	for _, l := range seen {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}
