package fleettest

import (
	"testing"
	"time"
)

// pollEvery is how often the waits of this kit look again: short enough not
// to slow tests down, long enough not to load a shared machine.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond until it holds, failing the test with what if it
// does not within the given time.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// poll reports whether cond held within the given time.
func poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
