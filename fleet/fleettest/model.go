package fleettest

import (
	"testing"

	"edgenas/profiler"
	"edgenas/space"
	"edgenas/tflite"
)

// LayerModel builds the one-layer int8 model of a layer key (as the
// profiler measures it) and returns it serialized: a small, real model to
// deploy. A fully connected key with output:10 gives a classifier-like
// model whose top-1 class means something to a health check.
func LayerModel(t testing.TB, key string) []byte {
	t.Helper()
	l, err := space.ParseKey(key)
	if err != nil {
		t.Fatalf("layer model: %v", err)
	}
	m, err := profiler.LayerModel(l)
	if err != nil {
		t.Fatalf("layer model %s: %v", key, err)
	}
	b, err := tflite.Write(m)
	if err != nil {
		t.Fatalf("layer model %s: %v", key, err)
	}
	return b
}

// WrongTop1 returns a copy of an int8 expected output whose top-1 class has
// moved to the next one: what a manifest for the wrong model would expect,
// so a health check against it must fail.
func WrongTop1(expected []byte) []byte {
	bad := append([]byte(nil), expected...)
	if len(bad) < 2 {
		return bad
	}
	top := 0
	for i := range bad {
		if int8(bad[i]) > int8(bad[top]) {
			top = i
		}
	}
	bad[top], bad[(top+1)%len(bad)] = 0x80, 127
	return bad
}
