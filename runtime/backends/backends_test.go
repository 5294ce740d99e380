package backends

import (
	"strings"
	"testing"
)

func xnnpackAvailable() bool {
	for _, n := range Available() {
		if n == "xnnpack" {
			return true
		}
	}
	return false
}

func TestLookup(t *testing.T) {
	for _, n := range Names() {
		b, err := Lookup(n)
		if err != nil || b.Name() != n {
			t.Errorf("Lookup(%q) = %v, %v", n, b, err)
		}
	}
	if _, err := Lookup("tpu"); err == nil || !strings.Contains(err.Error(), "known: xnnpack, ref") {
		t.Errorf("Lookup(tpu) error = %v", err)
	}
	if a := Available(); len(a) == 0 || a[len(a)-1] != "ref" {
		t.Errorf("Available() = %v, want ref always", a)
	}
}
