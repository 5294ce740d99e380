//go:build cgo

package xnnpack

// Available reports whether the XNNPACK backend can run here: the build has
// cgo and the C library initialised (it refuses CPUs without the SIMD
// extensions it needs). The first call performs the process-wide
// xnn_initialize.
func Available() bool { return xnnInit() == nil }
