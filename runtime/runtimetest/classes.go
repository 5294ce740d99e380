package runtimetest

// Helpers for tests that compare int8 classifier outputs (logits as the
// raw bytes of an int8 tensor).

// Argmax is the first index of the largest int8 value of b (0 when empty).
func Argmax(b []byte) int {
	best := 0
	for i := range b {
		if int8(b[i]) > int8(b[best]) {
			best = i
		}
	}
	return best
}

// InTopK reports whether class c is among the k largest int8 values of b
// (fewer than k values are larger than it).
func InTopK(b []byte, c, k int) bool {
	above := 0
	for i := range b {
		if int8(b[i]) > int8(b[c]) {
			above++
		}
	}
	return above < k
}

// Int8s returns b's bytes as int8 values, for messages.
func Int8s(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}
