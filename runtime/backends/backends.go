// Package backends maps backend names ("ref", "xnnpack") to runtime.Backend
// values, so every command and the agent accept the same names.
package backends

import (
	"fmt"
	"strings"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/xnnpack"
)

// Names lists the backend names edgenas knows, fastest first.
func Names() []string { return []string{"xnnpack", "ref"} }

// Lookup returns the backend with the given name.
func Lookup(name string) (runtime.Backend, error) {
	switch name {
	case "ref":
		return ref.Backend{}, nil
	case "xnnpack":
		return xnnpack.Backend{}, nil
	}
	return nil, fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Available lists the backends usable in this build (xnnpack needs cgo).
func Available() []string {
	out := []string{}
	for _, n := range Names() {
		if n == "xnnpack" && !xnnpack.Available() {
			continue
		}
		out = append(out, n)
	}
	return out
}
