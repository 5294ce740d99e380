package main

import (
	"fmt"
	"io"
	"strings"

	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// inspectReport is `model inspect --json`: the model summary and, per
// backend, which operators it runs.
type inspectReport struct {
	tflite.Summary
	Backends []backends.BackendSupport `json:"backends"`
}

// writeSupportText renders which operators each backend runs, one line per
// backend, then the operators it refuses, grouped by name.
func writeSupportText(w io.Writer, bs []backends.BackendSupport) {
	for _, b := range bs {
		if b.Unavailable != "" {
			fmt.Fprintf(w, "backend %s: %s\n", b.Backend, b.Unavailable)
			continue
		}
		where := map[string]int{}
		refused := &runtime.UnsupportedError{Backend: b.Backend}
		for _, v := range b.Ops {
			if !v.OK {
				refused.Ops = append(refused.Ops, runtime.UnsupportedOp{Index: v.Index, Name: v.Op, Reason: v.Reason})
				continue
			}
			where[strings.SplitN(v.Reason, ":", 2)[0]]++
		}
		var parts []string
		for _, k := range []string{"xnnpack", "ref fallback", "ref"} {
			if where[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", where[k], k))
			}
		}
		fmt.Fprintf(w, "backend %s: runs %d of %d operators", b.Backend, b.Runs, len(b.Ops))
		if len(parts) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
		}
		fmt.Fprintln(w)
		if len(refused.Ops) > 0 {
			fmt.Fprintf(w, "  cannot run: %s\n", refused.Summary())
		}
	}
}
