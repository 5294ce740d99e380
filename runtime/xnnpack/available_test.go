//go:build cgo

package xnnpack

import "testing"

// TestAvailable: with cgo the Debian XNNPACK initialises on any x86-64
// (SSE2 is all it requires), so Available must say so.
func TestAvailable(t *testing.T) {
	if !Available() {
		t.Fatalf("Available() = false in a cgo build: %v", xnnInit())
	}
}
