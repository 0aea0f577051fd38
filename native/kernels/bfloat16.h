// bfloat16 state: the upper 16 bits of a float32 (sign, the 8 exponent bits,
// the 7 leading mantissa bits), stored in a Uint16Array. Widening is exact
// (the 16 bits shifted up); storing rounds to nearest, ties to even (as
// torchao's bf16 optimizers and PyTorch's .to(torch.bfloat16) round), or
// stochastically. NaN stays NaN (quieted, sign kept) instead of rounding into
// an infinity. The drivers of compact_state.h use these.
#pragma once
#include <cstdint>
#include <cstring>
#include "../dtype.h"
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

inline std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

inline float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

inline bool bits_are_nan(std::uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }

// float → bfloat16 bits, round to nearest even: add just under half of the
// 16 dropped bits' range, plus the kept part's lowest bit (so that a tie goes
// up only from an odd value), and drop them. NaN is found by the float
// compare x != x (one instruction; the magnitude's bits against infinity's
// take two) and keeps its top bits, quieted.
inline std::uint16_t bf16_round_nearest(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t high = u >> 16;
  const std::uint32_t rounded = (u + 0x7fffu + (high & 1u)) >> 16;
  return std::uint16_t(x != x ? (high | 0x0040u) : rounded);
}

// float → bfloat16 bits, rounded up (away from zero in magnitude) with
// probability equal to the discarded fraction: `noise` is 16 uniform bits
// (its higher bits are ignored). A NaN adds no noise, so that dropping the
// low bits leaves its top bits, which then get the quiet bit.
inline std::uint16_t bf16_round_stochastic(float x, std::uint32_t noise) {
  const bool nan = x != x;
  const std::uint32_t rounded = (float_bits(x) + (nan ? 0u : (noise & 0xffffu))) >> 16;
  return std::uint16_t(nan ? (rounded | 0x0040u) : rounded);
}

inline float bf16_widen(std::uint16_t bits) { return bits_float(std::uint32_t(bits) << 16); }

FUSEDOPTIM_KERNELS_END

namespace fusedoptim {
template <> struct DTypeOf<std::uint16_t> { static constexpr DType value = DType::kBFloat16; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::kUint8; };
}  // namespace fusedoptim
