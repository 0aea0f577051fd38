// The 16-bit formats a compressed gradient travels in (compression: 'bf16' or
// 'fp16'), each a pair: encode rounds a float32 to nearest, ties to even, and
// decode widens it back, exactly. bfloat16 is the rounding of compact optimizer
// state (kernels/bfloat16.h, compiled into this addon's namespace: binding.gyp
// sets FUSEDOPTIM_ISA=mpi for it); IEEE binary16 is here, with its twin in
// lib/distributed/half.ts. The loops over arrays, and the sums in float32, are
// half_arrays.cc's.
#pragma once
#include <cstdint>

#include "../kernels/bfloat16.h"

namespace fusedoptim::mpi {

enum class Compression : int { kNone = 0, kBf16 = 1, kFp16 = 2 };

// `condition ? yes : no` as a blend of bits rather than a branch. The fp16
// conversions below compute every case and choose one: as a branch, the compiler
// would move each case's float operation into its arm, and could then not
// vectorise the loop (a float operation that may raise a flag is never executed
// speculatively under the default -ftrapping-math).
inline std::uint32_t blend(bool condition, std::uint32_t yes, std::uint32_t no) {
  const std::uint32_t mask = 0u - std::uint32_t(condition);
  return (yes & mask) | (no & ~mask);
}

// float32 → IEEE binary16 bits, round to nearest even: values of magnitude 65520
// and above become infinities, those below 2^-14 binary16's subnormals (steps of
// 2^-24); NaN stays a quiet NaN with its sign and leading payload bits.
// Every case is computed and one is chosen (blend), so that the loops over arrays
// (half_arrays.cc) vectorise. The twin takes the same cases with ifs and rounds a
// subnormal with integer shifts, as this function did before: the same bits for
// every one of the 2^32 float32 values (compared exhaustively when it changed).
inline std::uint16_t fp16_round_nearest(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  // |x|'s bits, below 2^31: compared as signed integers, which every SIMD set has.
  const std::int32_t a = std::int32_t(u & 0x7fffffffu);
  const std::uint32_t nan = 0x7e00u | ((std::uint32_t(a) >> 13) & 0x3ffu);
  // Normal: re-bias the exponent (127 → 15) and round the 13 dropped mantissa bits;
  // a carry out of the mantissa steps the exponent up, as it should.
  const std::uint32_t normal = (std::uint32_t(a) - 0x38000000u + 0xfffu + ((std::uint32_t(a) >> 13) & 1u)) >> 13;
  // Subnormal: |x| + 0.5 puts |x| in units of 2^-24 at the bottom of 0.5's mantissa,
  // and the float32 addition rounds it to nearest even there; below 2^-14 the sum
  // stays under 1, so its bits minus 0.5's are the binary16 bits (at most 2^-25: zero;
  // a value that rounds up to 2^-14 gives 0x400, the smallest normal).
  const std::uint32_t subnormal = float_bits(bits_float(std::uint32_t(a)) + 0.5f) - 0x3f000000u;
  const std::uint32_t finite = blend(a >= 0x477ff000, 0x7c00u, blend(a >= 0x38800000, normal, subnormal));  // 65520 = halfway from 65504 (odd) to 2^16
  return std::uint16_t(sign | blend(a > 0x7f800000, nan, finite));
}

// IEEE binary16 bits → float32, exactly (every case computed, one chosen, as in fp16_round_nearest).
inline float fp16_widen(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, magnitude = h & 0x7fffu, exponent = magnitude >> 10;
  // Normal: the exponent re-biased (15 → 127), the mantissa moved up: (exponent + 112) << 23 | mantissa << 13.
  const std::uint32_t normal = (magnitude << 13) + 0x38000000u;
  // Infinity or NaN: float32's largest exponent, the mantissa (payload) moved up.
  const std::uint32_t special = (magnitude << 13) | 0x7f800000u;
  // Subnormal (or zero): mantissa · 2^-24, exact in float32.
  const std::uint32_t subnormal = float_bits(float(std::int32_t(magnitude)) * 5.9604644775390625e-8f);
  return bits_float(sign | blend(exponent == 0x1fu, special, blend(exponent == 0, subnormal, normal)));
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
