// bfloat16 state: the upper 16 bits of a float32 (sign, the 8 exponent bits,
// the 7 leading mantissa bits), stored in a Uint16Array.
//
// A kernel computes in float and meets its bf16 state only through the two
// conversions its code already spells for any state type S: `T(state[i])`
// widens exactly (the 16 bits shifted up), `S(value)` rounds to nearest, ties
// to even, as torchao's bf16 optimizers and PyTorch's .to(torch.bfloat16)
// round. NaN stays NaN (quieted, sign kept) instead of rounding into an
// infinity. Stochastic rounding (compact_state.h) rounds differently and is a
// driver of its own.
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

// float → bfloat16 bits, round to nearest even.
inline std::uint16_t bf16_round_nearest(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return std::uint16_t(bits_are_nan(u) ? ((u >> 16) | 0x0040u) : rounded);
}

// float → bfloat16 bits, rounded up (away from zero in magnitude) with
// probability equal to the discarded fraction: `noise` is 16 uniform bits.
inline std::uint16_t bf16_round_stochastic(float x, std::uint32_t noise) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t rounded = (u + (noise & 0xffffu)) >> 16;
  return std::uint16_t(bits_are_nan(u) ? ((u >> 16) | 0x0040u) : rounded);
}

struct bfloat16 {
  std::uint16_t bits;

  bfloat16() = default;
  explicit bfloat16(float x) : bits(bf16_round_nearest(x)) {}
  explicit operator float() const { return bits_float(std::uint32_t(bits) << 16); }
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 is stored in a Uint16Array");

FUSEDOPTIM_KERNELS_END

namespace fusedoptim {
template <> struct DTypeOf<FUSEDOPTIM_ISA::bfloat16> { static constexpr DType value = DType::kBFloat16; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::kUint8; };
}  // namespace fusedoptim
