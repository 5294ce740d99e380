package tflite

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// The TFLite delegates CheckDelegates knows.
const (
	DelegateXNNPACK = "XNNPACK"
	DelegateNNAPI   = "NNAPI"
	DelegateGPU     = "GPU"
	DelegateHexagon = "Hexagon"
)

// DelegateOptions say which device the delegate check assumes.
type DelegateOptions struct {
	// AndroidAPI is the Android API level (NNAPI feature level) NNAPI's
	// rules are checked at; 0 means 30 (Android 11, the first level with
	// every int8 operator edgenas writes).
	AndroidAPI int
}

// DelegateReport is what one delegate would do with a model: per operator
// whether it would take it and, if not, why.
type DelegateReport struct {
	Delegate string `json:"delegate"`
	// Source names the published constraints the rules follow.
	Source    string `json:"source"`
	Taken     int    `json:"taken"`
	Operators int    `json:"operators"`
	// Partitions counts the runs of consecutive taken operators in execution
	// order: an estimate of the delegate partitions (TFLite partitions by
	// graph dependencies; on the chain-shaped graphs edgenas writes the two
	// agree). Every other operator runs on the CPU.
	Partitions int `json:"partitions"`
	// Note is what else decides the delegation on a device.
	Note string            `json:"note,omitempty"`
	Ops  []DelegateOpCheck `json:"ops"`
}

// DelegateOpCheck is one operator's verdict.
type DelegateOpCheck struct {
	Index   int    `json:"index"`
	Op      string `json:"op"`
	Version int32  `json:"version"`
	Taken   bool   `json:"taken"`
	// Reason says why the delegate refuses the operator ("" when taken).
	Reason string `json:"reason,omitempty"`
}

// opCtx gives a rule what it needs of one operator.
type opCtx struct {
	m   *Model
	op  *Operator
	api int
}

func (c opCtx) in(i int) *Tensor  { return input(c.m, c.op, i) }
func (c opCtx) out(i int) *Tensor { return c.m.tensorAt(outputAt(c.op, i)) }

func outputAt(op *Operator, i int) int {
	if i >= len(op.Outputs) {
		return -1
	}
	return op.Outputs[i]
}

// int8 reports whether the operator computes on int8 activations.
func (c opCtx) int8() bool {
	t := c.in(0)
	return t != nil && (t.Type == Int8 || t.Type == Uint8)
}

func scale(t *Tensor) float64 {
	if t == nil || t.Quant == nil || len(t.Quant.Scale) == 0 {
		return 0
	}
	return float64(t.Quant.Scale[0])
}

// rule checks one operator for one delegate: "" accepts, anything else is
// the reason for refusing it.
type rule func(c opCtx) string

// delegateSpec is one delegate's rules.
type delegateSpec struct {
	name, source, note string
	// common applies to every operator before its own rule.
	common func(c opCtx) string
	ops    map[Opcode]rule
	// minPartition is the smallest partition the delegate accepts (Hexagon: 2).
	minPartition int
}

// CheckDelegates reports, for XNNPACK, NNAPI, GPU and Hexagon in that order,
// which of the model's operators each delegate would take and why it would
// refuse the others, after each delegate's published constraints (see the
// sources in the rule tables). It reads the model only and never panics,
// even on a model that fails Validate.
func CheckDelegates(m *Model, opts DelegateOptions) []DelegateReport {
	api := opts.AndroidAPI
	if api == 0 {
		api = 30
	}
	var out []DelegateReport
	for _, d := range []delegateSpec{xnnpackSpec(), nnapiSpec(api), gpuSpec(), hexagonSpec()} {
		out = append(out, d.check(m, api))
	}
	return out
}

func (d delegateSpec) check(m *Model, api int) DelegateReport {
	r := DelegateReport{Delegate: d.name, Source: d.source, Note: d.note, Operators: len(m.Operators)}
	for i := range m.Operators {
		op := &m.Operators[i]
		c := opCtx{m: m, op: op, api: api}
		reason := d.common(c)
		if reason == "" {
			if f, ok := d.ops[op.Op]; !ok {
				reason = fmt.Sprintf("%v is not among the operators the %s delegate supports", op.Op, d.name)
			} else {
				reason = f(c)
			}
		}
		r.Ops = append(r.Ops, DelegateOpCheck{Index: i, Op: op.Op.String(), Version: op.Version, Taken: reason == "", Reason: reason})
	}
	// A partition below the delegate's minimum stays on the CPU.
	for start := 0; start < len(r.Ops); {
		end := start
		for end < len(r.Ops) && r.Ops[end].Taken {
			end++
		}
		if end == start {
			start++
			continue
		}
		if end-start < d.minPartition {
			for k := start; k < end; k++ {
				r.Ops[k].Taken = false
				r.Ops[k].Reason = fmt.Sprintf("alone in a partition of %d node(s); the %s delegate needs at least %d",
					end-start, d.name, d.minPartition)
			}
		} else {
			r.Partitions++
			r.Taken += end - start
		}
		start = end
	}
	return r
}

// maxVersion refuses operator versions above v.
func maxVersion(v int32, why string) rule {
	return func(c opCtx) string {
		if c.op.Version > v {
			if why != "" {
				return fmt.Sprintf("version %d (%s) is above the highest supported, %d", c.op.Version, why, v)
			}
			return fmt.Sprintf("version %d is above the highest supported, %d", c.op.Version, v)
		}
		return ""
	}
}

// allOf chains rules; the first refusal wins.
func allOf(rs ...rule) rule {
	return func(c opCtx) string {
		for _, r := range rs {
			if s := r(c); s != "" {
				return s
			}
		}
		return ""
	}
}

// accept is the rule of an operator taken whenever the common checks pass.
func accept(opCtx) string { return "" }

// constInput requires input k to be a constant.
func constInput(k int, what string) rule {
	return func(c opCtx) string {
		if t := c.in(k); t == nil || !t.IsConst() {
			return what + " must be a constant"
		}
		return ""
	}
}

// maxRank refuses tensors of rank above n.
func maxRank(c opCtx, n int) string {
	for _, ts := range [][]int{c.op.Inputs, c.op.Outputs} {
		for _, ti := range ts {
			if t := c.m.tensorAt(ti); t != nil && len(t.Shape) > n {
				return fmt.Sprintf("tensor %q has rank %d; the delegate takes at most %d", t.Name, len(t.Shape), n)
			}
		}
	}
	return ""
}

// fusedActivation returns the operator's fused activation, if it has one.
func fusedActivation(op *Operator) (Activation, bool) {
	switch o := op.Options.(type) {
	case *Conv2DOptions:
		return o.Activation, true
	case *DepthwiseConv2DOptions:
		return o.Activation, true
	case *Pool2DOptions:
		return o.Activation, true
	case *AddOptions:
		return o.Activation, true
	case *MulOptions:
		return o.Activation, true
	case *FullyConnectedOptions:
		return o.Activation, true
	}
	return ActNone, false
}

// WriteDelegatesText prints one summary line per delegate and one line per
// operator it would refuse.
func WriteDelegatesText(w io.Writer, reports []DelegateReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range reports {
		fmt.Fprintf(tw, "%s: takes %d of %d operators in %d partition(s); %s\n", r.Delegate, r.Taken, r.Operators, r.Partitions, r.Source)
		if r.Note != "" {
			fmt.Fprintf(tw, "  note: %s\n", r.Note)
		}
		for _, o := range r.Ops {
			if !o.Taken {
				fmt.Fprintf(tw, "  %d\t%s v%d\trefused: %s\n", o.Index, o.Op, o.Version, o.Reason)
			}
		}
	}
	return tw.Flush()
}
