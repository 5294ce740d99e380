//go:build !cgo

package xnnpack

import (
	"errors"

	"edgenas/runtime"
	"edgenas/tflite"
)

// errNoCgo is what every entry point returns in a build without cgo.
var errNoCgo = errors.New("xnnpack backend not available: built without cgo")

// Load fails: XNNPACK is a C library and this build has no cgo.
func (Backend) Load(*tflite.Model, runtime.Options) (runtime.Interpreter, error) {
	return nil, errNoCgo
}

// Plan fails: without the library there is nothing to ask which operators it accepts.
func (Backend) Plan(*tflite.Model) ([]Partition, error) { return nil, errNoCgo }

// Supports refuses every operator: without the library nothing runs.
func (Backend) Supports(*tflite.Model, int) (bool, string) { return false, errNoCgo.Error() }
