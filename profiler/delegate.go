package profiler

import "context"

// DelegateInfo records which TFLite delegate ran a measurement taken with an
// external tool (TFLite's benchmark_model), with the options it was given and
// how much of the graph it took, so a number labelled NNAPI is never CPU
// timing in disguise and a partial delegation stays visible.
type DelegateInfo struct {
	// Name is the delegate asked for: cpu, xnnpack, nnapi, gpu, hexagon or external:LIB.
	Name string `json:"name"`
	// Options are the delegate's settings as the tool's flags
	// ("nnapi_accelerator_name": "google-edgetpu").
	Options map[string]string `json:"options,omitempty"`
	// Mode is "complete", "partial" or "unknown" (the tool said nothing).
	Mode string `json:"mode"`
	// Nodes of TotalNodes were replaced by the delegate; Partitions counts
	// the partitions of the whole graph, CPU segments included.
	Nodes      int `json:"nodes,omitempty"`
	TotalNodes int `json:"total_nodes,omitempty"`
	Partitions int `json:"partitions,omitempty"`
	// Kernels is the number of delegate kernels (delegated partitions).
	Kernels int `json:"kernels,omitempty"`
}

// Partial reports whether part of the graph ran outside the delegate.
func (d *DelegateInfo) Partial() bool { return d != nil && d.Mode == "partial" }

// Observe records the conditions around an external measurement fn (another
// process timing a model) the way Measure records its own: read before,
// completed with throttling and load after.
func Observe(ctx context.Context, backend string, threads int, fn func() error) (Conditions, error) {
	cond := ReadConditions(ctx, backend, threads)
	before := readSnapshot()
	err := fn()
	cond.finish(ctx, before)
	return cond, err
}
