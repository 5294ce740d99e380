// Package profiler measures latency: how long a model or one layer takes on a
// backend, with warm-up, robust statistics, and the conditions it ran under.
package profiler

import (
	"math"
	"sort"
	"time"
)

// Stats summarises a sample of durations in microseconds. Std is the
// population standard deviation (as TFLite's benchmark_model prints it); MAD
// is the median absolute deviation (unscaled); CV is Std/Mean.
type Stats struct {
	Count int     `json:"count"`
	Min   float64 `json:"min_us"`
	P10   float64 `json:"p10_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
	Std   float64 `json:"std_us"`
	MAD   float64 `json:"mad_us"`
	CV    float64 `json:"cv"`
}

// Summarize computes Stats over durations. An empty sample gives the zero Stats.
func Summarize(ds []time.Duration) Stats {
	us := make([]float64, len(ds))
	for i, d := range ds {
		us[i] = float64(d) / float64(time.Microsecond)
	}
	return SummarizeMicros(us)
}

// SummarizeMicros computes Stats over values already in microseconds.
func SummarizeMicros(us []float64) Stats {
	n := len(us)
	if n == 0 {
		return Stats{}
	}
	s := append([]float64(nil), us...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	mean := sum / float64(n)
	var ss float64
	for _, v := range s {
		ss += (v - mean) * (v - mean)
	}
	std := math.Sqrt(ss / float64(n))
	med := Quantile(s, 0.5)
	dev := make([]float64, n)
	for i, v := range s {
		dev[i] = math.Abs(v - med)
	}
	sort.Float64s(dev)
	st := Stats{
		Count: n, Min: s[0], Max: s[n-1], Mean: mean, Std: std,
		P10: Quantile(s, 0.10), P50: med, P90: Quantile(s, 0.90),
		MAD: Quantile(dev, 0.5),
	}
	if mean > 0 {
		st.CV = std / mean
	}
	return st
}

// Quantile returns the q-quantile (0..1) of sorted values by linear
// interpolation between closest ranks (the "type 7" estimator of R and numpy).
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if q <= 0 {
		return sorted[0]
	}
	if q >= 1 {
		return sorted[n-1]
	}
	h := q * float64(n-1)
	lo := int(math.Floor(h))
	if lo+1 >= n {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// MedianCI returns a distribution-free confidence interval for the median of
// sorted values at the given level (0.95): the order statistics whose ranks
// come from the binomial(n, 1/2) distribution (normal approximation, as in
// most statistics texts). ok is false when the sample is too small for one.
func MedianCI(sorted []float64, level float64) (lo, hi float64, ok bool) {
	n := len(sorted)
	if n < 6 {
		return 0, 0, false
	}
	z := normalQuantile(0.5 + level/2)
	half := z * math.Sqrt(float64(n)) / 2
	l := int(math.Floor(float64(n)/2 - half))
	u := int(math.Ceil(float64(n)/2 + half))
	if l < 0 || u > n-1 {
		return 0, 0, false
	}
	return sorted[l], sorted[u], true
}

// normalQuantile is the standard normal quantile function (Acklam's rational
// approximation, relative error below 1.2e-9), enough for interval ranks.
func normalQuantile(p float64) float64 {
	a := []float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := []float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := []float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := []float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const plow = 0.02425
	switch {
	case p <= 0:
		return math.Inf(-1)
	case p >= 1:
		return math.Inf(1)
	case p < plow:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p <= 1-plow:
		q := p - 0.5
		r := q * q
		return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
	default:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
}
