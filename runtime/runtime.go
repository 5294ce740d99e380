// Package runtime defines how edgenas runs .tflite models: a Backend loads a
// model into an Interpreter, which takes raw input tensors, runs, and reports
// per-operator timings. Backends live in sub-packages (ref, xnnpack).
package runtime

import (
	"time"

	"edgenas/tflite"
)

// Options configure an interpreter at load time. The zero value means one thread.
type Options struct {
	// Threads is the number of worker threads; 0 or 1 means single-threaded.
	Threads int
	// PerOperator asks for one execution node per operator, so Profile
	// times every operator on its own (TFLite's op profiling). A backend
	// that fuses operators (xnnpack partitions) then runs each operator as
	// its own partition, which costs the fusion and the hand-over between
	// operators: time the whole graph without it.
	PerOperator bool
}

// Backend turns a model into a runnable interpreter.
type Backend interface {
	// Name is the backend's short name ("ref", "xnnpack").
	Name() string
	// Load validates m and prepares it; an operator or configuration the
	// backend cannot run is an error naming the operator.
	Load(m *tflite.Model, opts Options) (Interpreter, error)
}

// Interpreter runs one loaded model. It is not safe for concurrent use.
type Interpreter interface {
	// Model is the model that was loaded.
	Model() *tflite.Model
	// SetInput copies raw little-endian bytes into graph input i; the length
	// must equal the tensor's size in bytes.
	SetInput(i int, data []byte) error
	// Invoke runs the graph once.
	Invoke() error
	// Output returns a copy of graph output i's bytes after the last Invoke.
	Output(i int) []byte
	// Profile returns the per-node timings accumulated over all invocations
	// since load (or the last ResetProfile), in execution order.
	Profile() []NodeProfile
	// ResetProfile clears the accumulated timings.
	ResetProfile()
	// Close releases native resources. The interpreter is unusable afterwards.
	Close() error
}

// NodeProfile is the timing of one execution node: a single operator, or a
// partition of several operators delegated to one kernel library.
type NodeProfile struct {
	// Name describes the node: the operator name ("CONV_2D"), or for a
	// delegated partition "XNNPACK(12 ops)".
	Name string
	// Backend is where the node ran ("ref", "xnnpack").
	Backend string
	// Ops are the model operator indices the node covers.
	Ops []int
	// Count is the number of timed executions, Total their summed time.
	Count int
	Total time.Duration
}
