package nn

import (
	"fmt"

	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// ExportDAG converts a network made by BuildDAG(a) into the quantizer's
// float DAG network, batch norms folded (running statistics).
func ExportDAG(n *Net, a space.DAGArch) (*quantize.DAGNet, error) {
	qn, err := quantize.NewDAGNet(a)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	i := 0
	next := func() Layer {
		if i >= len(n.Layers) {
			return nil
		}
		i++
		return n.Layers[i-1]
	}
	convBN := func(w *quantize.Weights, what string) error {
		c, ok1 := next().(*Conv)
		bn, ok2 := next().(*BatchNorm)
		if !ok1 || !ok2 {
			return fmt.Errorf("export %s: want conv + batch norm at layer %d", what, i-2)
		}
		if err := convInto(w, c, bn); err != nil {
			return fmt.Errorf("export %s: %w", what, err)
		}
		return nil
	}
	if err := convBN(qn.Stem, "stem"); err != nil {
		return nil, err
	}
	for k := range qn.Cells {
		qc := &qn.Cells[k]
		if qc.Pos.Pool != nil {
			if _, ok := next().(*AvgPool2); !ok {
				return nil, fmt.Errorf("export cell %d: want a 2x2 average pool at layer %d", k, i-1)
			}
		}
		if qc.Transition != nil {
			if err := convBN(qc.Transition, fmt.Sprintf("cell %d transition", k)); err != nil {
				return nil, err
			}
		}
		cell, ok := next().(*Cell)
		if !ok {
			return nil, fmt.Errorf("export cell %d: want a cell at layer %d", k, i-1)
		}
		if err := cellInto(qc, cell); err != nil {
			return nil, fmt.Errorf("export cell %d: %w", k, err)
		}
	}
	if qn.Head != nil {
		if err := convBN(qn.Head, "head"); err != nil {
			return nil, err
		}
	}
	if _, ok := next().(*GlobalAvgPool); !ok {
		return nil, fmt.Errorf("export: want global average pooling at layer %d", i-1)
	}
	d, ok := next().(*Dense)
	if !ok {
		return nil, fmt.Errorf("export: want the classifier at layer %d", i-1)
	}
	if err := denseInto(qn.FC, d); err != nil {
		return nil, fmt.Errorf("export fc: %w", err)
	}
	if i != len(n.Layers) {
		return nil, fmt.Errorf("export: %d network layers left over after the architecture", len(n.Layers)-i)
	}
	return qn, nil
}

func cellInto(qc *quantize.DAGCell, c *Cell) error {
	if len(qc.Nodes) != len(c.Nodes) {
		return fmt.Errorf("%d nodes, the topology has %d", len(c.Nodes), len(qc.Nodes))
	}
	for j := range qc.Nodes {
		qd, dn := &qc.Nodes[j], c.Nodes[j]
		if qd.Node.Index != dn.Node.Index {
			return fmt.Errorf("node %d where the topology has node %d", dn.Node.Index, qd.Node.Index)
		}
		if qd.Depthwise != nil {
			if len(dn.Layers) != 4 {
				return fmt.Errorf("node %d: want depthwise, BN, pointwise, BN", dn.Node.Index)
			}
			dw, ok1 := dn.Layers[0].(*Depthwise)
			dbn, ok2 := dn.Layers[1].(*BatchNorm)
			pw, ok3 := dn.Layers[2].(*Conv)
			pbn, ok4 := dn.Layers[3].(*BatchNorm)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return fmt.Errorf("node %d: want depthwise, BN, pointwise, BN", dn.Node.Index)
			}
			if err := depthwiseInto(qd.Depthwise, dw, dbn); err != nil {
				return fmt.Errorf("node %d: %w", dn.Node.Index, err)
			}
			if err := convInto(qd.Pointwise, pw, pbn); err != nil {
				return fmt.Errorf("node %d pointwise: %w", dn.Node.Index, err)
			}
			continue
		}
		if len(dn.Layers) != 2 {
			return fmt.Errorf("node %d: want conv, BN", dn.Node.Index)
		}
		cv, ok1 := dn.Layers[0].(*Conv)
		bn, ok2 := dn.Layers[1].(*BatchNorm)
		if !ok1 || !ok2 {
			return fmt.Errorf("node %d: want conv, BN", dn.Node.Index)
		}
		if err := convInto(qd.Conv, cv, bn); err != nil {
			return fmt.Errorf("node %d: %w", dn.Node.Index, err)
		}
	}
	return nil
}

// QuantizeDAG is Quantize for a network made by BuildDAG(a).
func QuantizeDAG(n *Net, a space.DAGArch, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error) {
	return quantizeExported(calib, opts, func() (floatModeler, error) { return ExportDAG(n, a) })
}
