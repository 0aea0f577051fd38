// The 8-bit code of compact optimizer state: a tiny float, relative to the
// block's absmax, whose encoding and decoding are arithmetic on a float32's
// bits (no search, no table gather), so they vectorise. Twin:
// lib/compact/code8.ts.
//
// A magnitude a = |x| / absmax in [0, 1] is coded as t = a + 2^-E: t lies in
// [2^-E, 1 + 2^-E], so its float32 exponent and top kMantissa bits, read as
// one integer and counted from 2^-E's, number E·2^kMantissa + 1 steps: even
// steps of 2^-E / 2^kMantissa below 2^-E (the offset makes the code linear
// near zero, as a float's subnormals are), then kMantissa bits per octave
// up to 1. Rounding t's bits to nearest (add half a step, shift) rounds a to
// the nearest code value within its octave; decoding shifts the code back
// into a float32 and subtracts 2^-E (rounded to float32 near 1: the largest
// signed value is 1 − 2^-15, the largest unsigned one 1).
//
//   signed   (moments that change sign: exp_avg, momentum): a sign bit and
//            7 bits of magnitude, E = 15: values down to 2^-18 of the absmax.
//   unsigned (second moments, sums of squares): 8 bits of magnitude,
//            E = 31: down to 2^-34, so a small v is seldom coded as 0 (its
//            square root divides the update).
//
// A slot's code table (256 float32 values, the value of each code at absmax
// 1, in the state beside its codes) says which code it holds: the signed
// one's last code is negative.
#pragma once
#include <cstdint>
#include "bfloat16.h"
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

constexpr int kCodes = 256;
constexpr int kCodeMantissa = 3;
constexpr int kCodeShift = 23 - kCodeMantissa;

// The constants of one of the two codes, as a loop needs them.
struct Code8 {
  std::uint32_t base;       // t's bits >> kCodeShift at t = 2^-E (code 0)
  std::uint32_t rounding;   // half a step less code 0's bits: see encode
  std::uint32_t largest;    // the magnitude code of 1: E·2^kCodeMantissa
  std::uint32_t magnitude;  // the code's magnitude bits
  std::uint32_t sign;       // the code's sign bit (0 for the unsigned code)
  std::uint32_t sign32;     // where decode finds that bit in the widened code: a float's sign bit (or 0)
  float offset;             // 2^-E

  static Code8 of(int exponents, bool is_signed) {
    Code8 c;
    c.base = std::uint32_t(127 - exponents) << kCodeMantissa;
    c.rounding = (1u << (kCodeShift - 1)) - (c.base << kCodeShift);
    c.largest = std::uint32_t(exponents) << kCodeMantissa;
    c.magnitude = is_signed ? 0x7fu : 0xffu;
    c.sign = is_signed ? 0x80u : 0u;
    c.sign32 = is_signed ? 0x80000000u : 0u;
    c.offset = bits_float(std::uint32_t(127 - exponents) << 23);
    return c;
  }
  static Code8 signed_code() { return of(15, true); }
  static Code8 unsigned_code() { return of(31, false); }
  // The code a slot's table describes (see the top of the file).
  static Code8 of_table(const float* table) { return table[kCodes - 1] < 0.0f ? signed_code() : unsigned_code(); }
  bool is_signed() const { return sign != 0; }

  // x / absmax (given as its reciprocal, 0 for a zero or NaN absmax) → code.
  // NaN and magnitudes past 1 take the largest magnitude.
  //   steps = ((bits(t) + half a step) >> kCodeShift) − base
  // in one add and one shift: t ≥ 2^-E, so bits(t) ≥ base << kCodeShift and
  // subtracting that before the shift (in `rounding`) borrows nothing.
  std::uint8_t encode(float x, float inverse_absmax) const {
    const float y = x * inverse_absmax;
    const float t = bits_float(float_bits(y) & 0x7fffffffu) + offset;
    const std::uint32_t steps = (float_bits(t) + rounding) >> kCodeShift;
    const std::uint32_t clamped = steps < largest ? steps : largest;
    return std::uint8_t(clamped | (y < 0.0f ? sign : 0u));
  }

  // code → its value at absmax 1, times absmax. The code is widened with its
  // sign (as an int8), so the signed code's sign bit lands in bit 31, a
  // float's own sign bit, where sign32 keeps it. base's low 8 bits are 0, so
  // `| base` adds it to the magnitude (and an and-or is one instruction on
  // AVX-512).
  float decode(std::uint8_t code, float absmax) const {
    const std::uint32_t c = std::uint32_t(std::int32_t(std::int8_t(code)));
    const float t = bits_float(((c & magnitude) | base) << kCodeShift);
    return bits_float(float_bits(t - offset) | (c & sign32)) * absmax;
  }
};

// 1 / absmax, or 0 where that would not give magnitudes in [0, 1] (absmax 0,
// infinite or NaN): the encoding then sees 0, or NaN from an infinite or NaN x.
inline float inverse_of(float absmax) { return absmax > 0.0f && absmax < 3.4028235e38f ? 1.0f / absmax : 0.0f; }

FUSEDOPTIM_KERNELS_END
