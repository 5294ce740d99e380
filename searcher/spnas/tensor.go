package spnas

// dot is sum(a*b) in float64 (indicator gradients sum over whole
// activations, where float32 accumulation loses the small terms).
func dot(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}
