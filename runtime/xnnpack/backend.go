// Package xnnpack runs int8 .tflite models on Google's XNNPACK library (the
// Debian build of early 2022, through cgo) the way TensorFlow Lite's XNNPACK
// delegate does: every operator XNNPACK accepts is translated onto XNNPACK's
// subgraph API, runs of consecutive accepted operators become one XNNPACK
// subgraph and runtime each (a partition), and every other operator runs on
// the pure-Go reference kernels of package edgenas/runtime/ref.
//
// Which operators are accepted is not guessed from a table: each operator of
// the model is first defined alone in a scratch subgraph and a runtime is
// created and set up from it, so the decision is the library's own, for this
// operator's exact shapes, types and parameters (see Backend.Plan).
//
// Process-wide state: XNNPACK must be initialised (xnn_initialize) before any
// other call; the package does this once per process, on first use, with a
// sync.Once. It never deinitialises (XNNPACK keeps shared code tables for the
// life of the process).
//
// Which operator ran where: Backend.Plan returns the plan for a model, and
// the interpreter Load returns also implements interface{ Plan() []Partition };
// its Profile has one node per partition ("XNNPACK(12 ops)", backend
// "xnnpack") and one per reference operator (backend "ref").
//
// Memory: activations crossing a node boundary and static weights live in C
// memory (XNNPACK keeps pointers to both), so an interpreter must be Closed;
// a GC cleanup frees an interpreter dropped without Close, eventually.
//
// Built without cgo (CGO_ENABLED=0, as for pure-Go phone builds) the package
// still compiles and Load returns an error saying so.
package xnnpack

import (
	"fmt"
	"strings"

	"edgenas/tflite"
)

// Backend is the runtime.Backend running models on XNNPACK, falling back to
// the reference kernels for operators XNNPACK does not accept. The zero value
// is ready to use.
type Backend struct{}

// Name returns "xnnpack".
func (Backend) Name() string { return "xnnpack" }

// Partition is one execution node of a plan: either a run of consecutive
// operators delegated to one XNNPACK subgraph, or one operator the reference
// kernels run.
type Partition struct {
	// Backend is "xnnpack" for a delegated partition, "ref" for a single
	// operator run by the reference kernels.
	Backend string
	// Ops are the model operator indices, in execution order.
	Ops []int
	// Inputs and Outputs are the tensors crossing the node's boundary (for an
	// XNNPACK partition, its external values), constants excluded.
	Inputs, Outputs []int
	// Reason says, for a "ref" node, why XNNPACK did not take the operator.
	Reason string
}

// nodeName is the partition's profile name: "XNNPACK(12 ops)" for a
// delegated partition, the operator name ("HARD_SWISH") for a reference node
// and, per operator (runtime.Options.PerOperator), for every node.
func (p *Partition) nodeName(m *tflite.Model, perOp bool) string {
	if p.Backend == backendXNNPACK && !perOp {
		return fmt.Sprintf("XNNPACK(%d ops)", len(p.Ops))
	}
	return m.Operators[p.Ops[0]].Op.String()
}

const (
	backendXNNPACK = "xnnpack"
	backendRef     = "ref"
)

// FormatPlan renders a plan one node per line, for logs and `bench --per-op`.
func FormatPlan(plan []Partition) string {
	var b strings.Builder
	for i, p := range plan {
		fmt.Fprintf(&b, "%3d %-7s ops %v", i, p.Backend, p.Ops)
		if p.Reason != "" {
			fmt.Fprintf(&b, " (%s)", p.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
