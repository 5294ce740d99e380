//go:build cgo

package xnnpack

/*
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// edgenas_sum_pixels sets sums[c] to the sum of channel c over n pixels of
// ch interleaved int8 channels: a plain loop, vectorized at O3 (cgo's
// default O2 leaves it scalar with GCC before 12).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void edgenas_sum_pixels(const int8_t* img, size_t n, size_t ch, int32_t* sums) {
	memset(sums, 0, ch * sizeof(int32_t));
	for (size_t p = 0; p < n; p++) {
		const int8_t* row = img + p * ch;
		for (size_t c = 0; c < ch; c++) {
			sums[c] += row[c];
		}
	}
}
*/
import "C"

import "unsafe"

// sumPixels sets sums[c] to the sum of channel c over the pixels of img
// (len(sums) interleaved channels; len(img) a multiple of it). In C
// because Go's scalar loop is ~30x slower than XNNPACK's global average
// pooling, which would distort the latency of the operator it replaces.
func sumPixels(img []byte, sums []int32) {
	ch := len(sums)
	if ch == 0 || len(img) < ch {
		clear(sums)
		return
	}
	C.edgenas_sum_pixels((*C.int8_t)(unsafe.Pointer(&img[0])), C.size_t(len(img)/ch), C.size_t(ch), (*C.int32_t)(unsafe.Pointer(&sums[0])))
}
