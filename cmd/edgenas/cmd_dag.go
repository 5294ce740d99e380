package main

import (
	"fmt"
	"math"
	"text/tabwriter"

	"edgenas/lut"
	"edgenas/quantize"
	"edgenas/space"
)

// The DAG-space side of the commands that take --space: each command checks
// space.IsDAG first and hands DAG spaces to these.

// lookupDAGArch decodes a DAG space's topology string (or "random" from seed).
func lookupDAGArch(name, arch string, seed uint64) (space.DAGArch, error) {
	s, err := space.LookupDAG(name)
	if err != nil {
		return space.DAGArch{}, usagef("%v", err)
	}
	a, err := s.ParseOrRandomDAG(arch, seed)
	if err != nil {
		return space.DAGArch{}, usagef("%v", err)
	}
	return a, nil
}

// dagSpaceArch is `space arch` for a DAG space: the topology's cell, its
// layers with keys, MACs and parameters.
func dagSpaceArch(e *env, name, arch string, seed uint64, asJSON bool) error {
	a, err := lookupDAGArch(name, arch, seed)
	if err != nil {
		return err
	}
	type node struct {
		Node   int    `json:"node"`
		Op     string `json:"op"`
		Inputs []int  `json:"inputs"`
		Leaf   bool   `json:"leaf"`
	}
	type layer struct {
		Key    string `json:"key"`
		MACs   int64  `json:"macs"`
		Params int64  `json:"params"`
	}
	var ns []node
	for _, cn := range a.CellNodes() {
		ns = append(ns, node{cn.Index, string(cn.Op), cn.Inputs, cn.Leaf})
	}
	var ls []layer
	for _, l := range a.Layers() {
		ls = append(ls, layer{l.Key(), l.MACs(), l.Params()})
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"space": name, "arch": a.String(), "edges": a.NumEdges(),
			"macs": a.MACs(), "params": a.Params(), "nodes": ns, "layers": ls})
	}
	fmt.Fprintf(e.stdout, "%s %s\n%d edges, %.1f MMACs, %.3f M parameters\n\n", name, a, a.NumEdges(),
		float64(a.MACs())/1e6, float64(a.Params())/1e6)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tOP\tINPUTS\tLEAF")
	for _, n := range ns {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%v\n", n.Node, n.Op, n.Inputs, n.Leaf)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout)
	fmt.Fprintln(tw, "MMACS\tKEY")
	for _, l := range ls {
		fmt.Fprintf(tw, "%.2f\t%s\n", float64(l.MACs)/1e6, l.Key)
	}
	return tw.Flush()
}

// dagModelGen is `model gen` for a DAG space.
func dagModelGen(e *env, name, arch string, seed uint64, out string, asJSON bool) error {
	a, err := lookupDAGArch(name, arch, seed)
	if err != nil {
		return err
	}
	m, err := quantize.DAGModel(a, seed)
	if err != nil {
		return fmt.Errorf("build %s: %w", a, err)
	}
	return writeModel(e, out, m, name, a.String(), seed, a.MACs(), a.Params(), asJSON)
}

// dagLUTPredict is `lut predict` for a DAG space: the LUT sum and, with a
// calibration file, the calibrated prediction.
func dagLUTPredict(e *env, tf *tableFlags, name, arch string, seed uint64, predictor, calibFile string, asJSON bool) error {
	a, err := lookupDAGArch(name, arch, seed)
	if err != nil {
		return err
	}
	tab, err := tf.table()
	if err != nil {
		return err
	}
	sum, cal, err := tablePredictors(tab, predictor, calibFile)
	if err != nil {
		return err
	}
	var preds []lut.DAGPredictor
	if sum != nil {
		preds = append(preds, sum)
	}
	if cal != nil {
		preds = append(preds, cal)
	}
	if len(preds) == 0 {
		return usagef("--predictor %q: a DAG space has lut-sum, calibrated or all", predictor)
	}
	out := map[string]float64{}
	for _, p := range preds {
		pd, err := p.PredictDAG(a)
		if err != nil {
			return err
		}
		out[p.Name()] = pd.Millis
		if !asJSON {
			fmt.Fprintf(e.stdout, "%-40s %.2f ms\n", p.Name(), pd.Millis)
		}
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"arch": a.String(), "space": name, "predicted_ms": out})
	}
	return nil
}

// dagSpaceRow is a DAG space's line in `space list`: searchable edges and
// the number of edge sets.
type dagSpaceRow struct {
	name, input string
	searchable  int
	size        float64
}

func dagSpaceRows() []dagSpaceRow {
	var rows []dagSpaceRow
	for _, n := range space.DAGNames() {
		s, err := space.LookupDAG(n)
		if err != nil {
			continue // DAGNames lists only built-in spaces
		}
		rows = append(rows, dagSpaceRow{n, fmt.Sprintf("%dx%dx%d", s.InputH, s.InputW, s.InputC), s.MaxEdges(), math.Ldexp(1, s.MaxEdges())})
	}
	return rows
}

// dagSpaceShow is `space show` for a DAG space: the skeleton, the node ops
// and every latency-table key.
func dagSpaceShow(e *env, name string, asJSON bool) error {
	s, err := space.LookupDAG(name)
	if err != nil {
		return usagef("%v", err)
	}
	type cell struct {
		Stage int    `json:"stage"`
		Shape string `json:"shape"`
		Pool  bool   `json:"pool"`
		Trans bool   `json:"transition"`
	}
	var cells []cell
	for _, p := range s.CellPositions() {
		cells = append(cells, cell{p.Stage + 1, fmt.Sprintf("%dx%dx%d", p.H, p.W, p.C), p.Pool != nil, p.Transition != nil})
	}
	var keys []string
	for _, l := range s.UniqueKeys() {
		keys = append(keys, l.Key())
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"space": name, "nodes": s.Nodes(), "ops": s.Ops, "edges": s.MaxEdges(),
			"cells": cells, "keys": keys})
	}
	fmt.Fprintf(e.stdout, "%s: cell of %d nodes (node 0 the input), ops %v, %d possible edges; %d cells\n\n", name,
		s.Nodes(), s.Ops, s.MaxEdges(), len(cells))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSHAPE\tPOOL\tTRANSITION")
	for _, c := range cells {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%v\n", c.Stage, c.Shape, c.Pool, c.Trans)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\n%d latency-table keys:\n", len(keys))
	for _, k := range keys {
		fmt.Fprintln(e.stdout, "  "+k)
	}
	return nil
}

// dagSpaceSample is `space sample` for a DAG space.
func dagSpaceSample(e *env, name string, seed uint64, count int) error {
	s, err := space.LookupDAG(name)
	if err != nil {
		return usagef("%v", err)
	}
	for i := 0; i < count; i++ {
		fmt.Fprintln(e.stdout, s.RandomDAGSeed(seed+uint64(i)))
	}
	return nil
}

// tablePredictors makes the table predictors --predictor asks for (any of
// them may be nil): the LUT sum ("lut-sum" or "all") and the calibrated
// predictor ("calibrated", or "all" with a calibration file).
func tablePredictors(tab *lut.Table, predictor, calibFile string) (*lut.LUTPredictor, *lut.Calibrated, error) {
	var sum *lut.LUTPredictor
	var cal *lut.Calibrated
	var err error
	if predictor == "all" || predictor == "lut-sum" {
		if sum, err = lut.NewLUTPredictor(tab); err != nil {
			return nil, nil, err
		}
	}
	if (predictor == "all" && calibFile != "") || predictor == "calibrated" {
		if calibFile == "" {
			return nil, nil, usagef("--predictor calibrated needs --calibration FILE (written by lut validate)")
		}
		if cal, err = lut.ReadCalibratedFile(calibFile, tab); err != nil {
			return nil, nil, err
		}
	}
	return sum, cal, nil
}
