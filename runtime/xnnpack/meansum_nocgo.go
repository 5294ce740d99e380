//go:build !cgo

package xnnpack

// sumPixels sets sums[c] to the sum of channel c over the pixels of img
// (len(sums) interleaved channels). Without cgo the backend never runs;
// this keeps mean.go compiling.
func sumPixels(img []byte, sums []int32) {
	clear(sums)
	ch := len(sums)
	for p := 0; ch > 0 && p+ch <= len(img); p += ch {
		for c, v := range img[p : p+ch] {
			sums[c] += int32(int8(v))
		}
	}
}
