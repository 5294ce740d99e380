//go:build !cgo

package xnnpack

// Available reports false: without cgo there is no XNNPACK library to call.
func Available() bool { return false }
