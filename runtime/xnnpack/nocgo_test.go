//go:build !cgo

package xnnpack

import (
	"strings"
	"testing"

	"edgenas/runtime"
	"edgenas/tflite"
)

func TestLoadWithoutCgo(t *testing.T) {
	m := &tflite.Model{}
	_, err := Backend{}.Load(m, runtime.Options{})
	if err == nil || !strings.Contains(err.Error(), "built without cgo") {
		t.Errorf("Load error %v, want one saying the build has no cgo", err)
	}
	if _, err := (Backend{}).Plan(m); err == nil {
		t.Error("Plan without cgo: no error")
	}
}
