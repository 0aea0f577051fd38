// The 16-bit formats a compressed gradient travels in (compression: 'bf16' or
// 'fp16'), each a pair: encode rounds a float32 to nearest, ties to even, and
// decode widens it back, exactly. bfloat16 is the rounding of compact optimizer
// state (kernels/bfloat16.h, compiled into this addon's namespace: binding.gyp
// sets FUSEDOPTIM_ISA=mpi for it); IEEE binary16 is here, with its twin in
// lib/distributed/half.ts. The sums are taken in float32 (collective.cc).
#pragma once
#include <cstdint>

#include "../kernels/bfloat16.h"

namespace fusedoptim::mpi {

enum class Compression : int { kNone = 0, kBf16 = 1, kFp16 = 2 };

// float32 → IEEE binary16 bits, round to nearest even: values of magnitude 65520
// and above become infinities, those below 2^-14 binary16's subnormals (steps of
// 2^-24); NaN stays a quiet NaN with its sign and leading payload bits.
inline std::uint16_t fp16_round_nearest(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return std::uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // 65520 = halfway from 65504 (odd) to 2^16
  if (a >= 0x38800000u) {
    // Normal: re-bias the exponent (127 → 15) and round the 13 dropped mantissa bits;
    // a carry out of the mantissa steps the exponent up, as it should.
    return std::uint16_t(sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
  }
  if (a <= 0x33000000u) return std::uint16_t(sign);  // at most 2^-25, half of the smallest subnormal: to (even) zero
  // Subnormal: the value in units of 2^-24 is the 24-bit significand shifted right by 126 - exponent (14 to 24).
  const std::uint32_t significand = (a & 0x7fffffu) | 0x800000u, shift = 126u - (a >> 23);
  const std::uint32_t q = significand >> shift, rest = significand & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  return std::uint16_t(sign | (q + (rest > half || (rest == half && (q & 1u)) ? 1u : 0u)));
}

inline float fp16_widen(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Subnormal (or zero): mantissa · 2^-24, exact in float32.
  const float magnitude = float(mantissa) * 5.9604644775390625e-8f;
  return sign != 0 ? -magnitude : magnitude;
}

struct Bf16Codec {
  static std::uint16_t encode(float x) { return bf16_round_nearest(x); }
  static float decode(std::uint16_t h) { return bf16_widen(h); }
};

struct Fp16Codec {
  static std::uint16_t encode(float x) { return fp16_round_nearest(x); }
  static float decode(std::uint16_t h) { return fp16_widen(h); }
};

}  // namespace fusedoptim::mpi
