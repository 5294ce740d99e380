package ref

import (
	"math"
	"math/bits"
)

// This file holds TFLite's integer requantization arithmetic
// (kernels/internal/common.h, quantization_util.cc) and the parts of
// gemmlowp's fixedpoint.h the int8 softmax uses. Every function mirrors its
// C++ original bit for bit, including the wrap-around of int32 arithmetic
// that the C++ code relies on.

// QuantizeMultiplier splits a real multiplier into a Q0.31 significand and a
// power-of-two exponent, real ≈ q * 2^(shift-31), as TFLite's
// QuantizeMultiplier: frexp, round half away from zero, a significand that
// rounds up to 2^31 is halved with the exponent incremented, exponents below
// -31 flush to zero and exponents above 30 saturate.
func QuantizeMultiplier(real float64) (q int32, shift int) {
	if real == 0 {
		return 0, 0
	}
	frac, exp := math.Frexp(real)
	qFixed := int64(math.Round(frac * (1 << 31)))
	if qFixed == 1<<31 {
		qFixed /= 2
		exp++
	}
	if exp < -31 {
		return 0, 0
	}
	if exp > 30 {
		// The single-rounding multiply cannot shift left by more than 30;
		// TFLite saturates instead.
		return math.MaxInt32, 30
	}
	return int32(qFixed), exp
}

// SaturatingRoundingDoublingHighMul returns the high 32 bits of 2*a*b,
// rounded to nearest (ties away from zero), saturating the single overflow
// case INT32_MIN*INT32_MIN (gemmlowp).
func SaturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	// Go's division truncates toward zero like C++'s.
	return int32((ab + nudge) / (1 << 31))
}

// RoundingDivideByPOT divides x by 2^exponent rounding to nearest, ties away
// from zero (gemmlowp). exponent must be in [0, 31].
func RoundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32((int64(1) << exponent) - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exponent
	if remainder > threshold {
		r++
	}
	return r
}

// MultiplyByQuantizedMultiplier computes x * q * 2^(shift-31) with TFLite's
// double rounding (left shift, rounding doubling high multiply, rounding
// right shift). The left shift wraps in int32 as in the C++ code.
func MultiplyByQuantizedMultiplier(x, q int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x*(int32(1)<<left), q), right)
}

// saturatingRoundingMultiplyByPOT is gemmlowp's SaturatingRoundingMultiplyByPOT
// for int32: a saturating left shift for exponent > 0, a rounding right shift
// for exponent < 0.
func saturatingRoundingMultiplyByPOT(x int32, exponent int) int32 {
	switch {
	case exponent == 0:
		return x
	case exponent < 0:
		return RoundingDivideByPOT(x, -exponent)
	}
	threshold := int32(1)<<(31-exponent) - 1
	if x > threshold {
		return math.MaxInt32
	}
	if x < -threshold {
		return math.MinInt32
	}
	return x << exponent
}

// expOnIntervalBetweenNegativeOneQuarterAnd0Excl is gemmlowp's
// exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in and
// out): a Taylor expansion around -1/8.
func expOnIntervalBetweenNegativeOneQuarterAnd0Excl(a int32) int32 {
	const (
		constantTerm   int32 = 1895147668 // exp(-1/8)
		constant1Over3 int32 = 715827883  // 1/3
		oneEighth      int32 = 1 << 28
	)
	x := a + oneEighth
	x2 := SaturatingRoundingDoublingHighMul(x, x)
	x3 := SaturatingRoundingDoublingHighMul(x2, x)
	x4 := SaturatingRoundingDoublingHighMul(x2, x2)
	x4Over4 := saturatingRoundingMultiplyByPOT(x4, -2)
	poly := saturatingRoundingMultiplyByPOT(
		SaturatingRoundingDoublingHighMul(x4Over4+x3, constant1Over3)+x2, -1)
	return constantTerm + SaturatingRoundingDoublingHighMul(constantTerm, x+poly)
}

// expOnNegativeValues is gemmlowp's exp_on_negative_values: a holds a
// non-positive value with integerBits integer bits; the result is Q0.31.
func expOnNegativeValues(a int32, integerBits int) int32 {
	fractionalBits := 31 - integerBits
	oneQuarter := int32(1) << (fractionalBits - 2)
	mask := oneQuarter - 1
	aModQuarterMinusOneQuarter := (a & mask) - oneQuarter
	result := expOnIntervalBetweenNegativeOneQuarterAnd0Excl(
		saturatingRoundingMultiplyByPOT(aModQuarterMinusOneQuarter, integerBits))
	remainder := aModQuarterMinusOneQuarter - a
	barrel := [...]struct {
		exponent   int
		multiplier int32
	}{
		{-2, 1672461947}, // exp(-1/4)
		{-1, 1302514674}, // exp(-1/2)
		{0, 790015084},   // exp(-1)
		{1, 290630308},   // exp(-2)
		{2, 39332535},    // exp(-4)
		{3, 720401},      // exp(-8)
		{4, 242},         // exp(-16)
	}
	for _, b := range barrel {
		if integerBits > b.exponent && remainder&(int32(1)<<(fractionalBits+b.exponent)) != 0 {
			result = SaturatingRoundingDoublingHighMul(result, b.multiplier)
		}
	}
	if integerBits > 5 {
		clamp := -(int32(1) << (fractionalBits + 5))
		if a < clamp {
			result = 0
		}
	}
	if a == 0 {
		result = math.MaxInt32
	}
	return result
}

// roundingHalfSum is gemmlowp's RoundingHalfSum for int32.
func roundingHalfSum(a, b int32) int32 {
	sum := int64(a) + int64(b)
	sign := int64(1)
	if sum < 0 {
		sign = -1
	}
	return int32((sum + sign) / 2)
}

// oneOverOnePlusXForXIn01 is gemmlowp's one_over_one_plus_x_for_x_in_0_1
// (Q0.31 in and out): three Newton-Raphson steps carried in Q2.29.
func oneOverOnePlusXForXIn01(a int32) int32 {
	const (
		c48Over17    int32 = 1515870810
		cNeg32Over17 int32 = -1010580540
		oneQ2        int32 = 1 << 29
	)
	halfDenominator := roundingHalfSum(a, math.MaxInt32)
	x := c48Over17 + SaturatingRoundingDoublingHighMul(halfDenominator, cNeg32Over17)
	for range 3 {
		hdx := SaturatingRoundingDoublingHighMul(halfDenominator, x)
		x += saturatingRoundingMultiplyByPOT(SaturatingRoundingDoublingHighMul(x, oneQ2-hdx), 2)
	}
	// Rescale<0>(ExactMulByPot<-1>(x)): reinterpret as Q1.30, then shift to Q0.31.
	return saturatingRoundingMultiplyByPOT(x, 1)
}

// getReciprocal is TFLite's GetReciprocal: 1/x for x with xIntegerDigits
// integer bits, as a Q0.31 value scaled by 2^-numBitsOverUnit.
func getReciprocal(x int32, xIntegerDigits int) (recip int32, numBitsOverUnit int) {
	headroomPlusOne := bits.LeadingZeros32(uint32(x))
	numBitsOverUnit = xIntegerDigits - headroomPlusOne
	shiftedSumMinusOne := int32((uint32(x) << headroomPlusOne) - (uint32(1) << 31))
	return oneOverOnePlusXForXIn01(shiftedSumMinusOne), numBitsOverUnit
}

// calculateInputRadius is TFLite's CalculateInputRadius: the largest input
// magnitude that does not saturate after scaling by 2^inputLeftShift.
func calculateInputRadius(inputIntegerBits, inputLeftShift, totalSignedBits int) int32 {
	maxInputRescaled := 1.0 * float64(int64(1)<<inputIntegerBits-1) *
		float64(int64(1)<<(totalSignedBits-inputIntegerBits)) / float64(int64(1)<<inputLeftShift)
	return int32(math.Floor(maxInputRescaled))
}

// int16 variants used by the quantized hard-swish (reference hard_swish.h).

func srdhm16(a, b int16) int16 {
	if a == b && a == math.MinInt16 {
		return math.MaxInt16
	}
	ab := int32(a) * int32(b)
	nudge := int32(1 << 14)
	if ab < 0 {
		nudge = 1 - (1 << 14)
	}
	return int16((ab + nudge) / (1 << 15))
}

// sdhm16 is SaturatingDoublingHighMul: like srdhm16 but truncating toward zero.
func sdhm16(a, b int16) int16 {
	if a == b && a == math.MinInt16 {
		return math.MaxInt16
	}
	return int16(int32(a) * int32(b) / (1 << 15))
}

func roundingDivideByPOT16(x int16, exponent int) int16 {
	mask := int16((int64(1) << exponent) - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exponent
	if remainder > threshold {
		r++
	}
	return r
}

func saturatingLeftShift16(v int16, amount int) int16 {
	r := int64(v) * (int64(1) << amount)
	return int16(min(max(r, math.MinInt16), math.MaxInt16))
}

// roundHalfAway is TfLiteRound / std::round for float32 values.
func roundHalfAway32(x float32) float32 { return float32(math.Round(float64(x))) }
