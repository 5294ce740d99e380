//go:build !cgo

package xnnpack

import "testing"

func TestAvailableWithoutCgo(t *testing.T) {
	if Available() {
		t.Error("Available() = true in a build without cgo")
	}
}
