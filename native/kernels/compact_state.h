// Drivers that run an optimizer kernel over compactly stored state, block by
// block (multi_tensor_blocks.h), without touching the kernel's formula: each
// block's state is widened into float32 scratch (256 elements per state slot,
// in L1), the kernel Kernel<float, float> updates param and scratch as it
// would full-precision state, and the scratch is stored back compactly, all
// in the same pass over memory.
//
//   NearestBf16<K>     bfloat16 state rounded to nearest even.
//   StochasticBf16<K>  bfloat16 state rounded stochastically: up with the
//                      probability of the discarded fraction, so the rounding
//                      errors average out over steps instead of stalling
//                      small updates. The random bits are a hash of (seed,
//                      tensor, slot, element): the same for any thread count.
//                      (Widening into float32 scratch, rather than a
//                      Kernel<float, bfloat16> that converts element by
//                      element, keeps every loop vectorised: measured 5x
//                      faster at 16M params.)
//   Blockwise8<K>      8-bit state as in Dettmers et al., "8-bit Optimizers
//                      via Block-wise Quantization" (2022) and bitsandbytes:
//                      per state slot a code per element, a float32 absmax
//                      per block of 256 and a sorted map of 256 code values;
//                      value = map[code] * absmax. Requantizing takes the
//                      block's new absmax and each element's nearest code of
//                      value / absmax (code_search.h).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include "dispatch/kernel_table.h"
#include "bfloat16.h"
#include "code_search.h"
#include "kernel_namespace.h"
#include "scalar_math.h"

FUSEDOPTIM_KERNELS_BEGIN

constexpr std::size_t kCompactBlock = 256;

// murmur3's 32-bit finalizer: a bijection that mixes every input bit into
// every output bit. lib/compact/drivers.ts computes the same.
inline std::uint32_t mix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// The random stream of one state slot of one tensor in one step.
inline std::uint32_t noise_key(std::uint32_t seed, std::size_t tensor, int slot) {
  return mix32(seed ^ mix32(std::uint32_t(tensor) * 0x9e3779b9u + std::uint32_t(slot)));
}

// A kernel's scalars followed by one more raw number (not of the kernel's T):
// the names are the kernel's and `extra`.
template <class KernelScalars, class Extra, class Seq = std::make_index_sequence<KernelScalars::kCount>>
struct ScalarsWith;
template <class KernelScalars, class Extra, std::size_t... I>
struct ScalarsWith<KernelScalars, Extra, std::index_sequence<I...>> {
  static constexpr const char* kNames[] = {KernelScalars::kNames[I]..., Extra::kName};
  static constexpr int kCount = KernelScalars::kCount + 1;
  KernelScalars kernel;
  double extra;
  explicit ScalarsWith(const double* raw) : kernel(raw), extra(raw[KernelScalars::kCount]) {}
};

// No scalars besides the kernel's (round to nearest draws no random bits),
// in the shape of ScalarsWith.
template <class KernelScalars>
struct ScalarsOnly {
  static constexpr const char* const* kNames = KernelScalars::kNames;
  static constexpr int kCount = KernelScalars::kCount;
  KernelScalars kernel;
  static constexpr double extra = 0;
  explicit ScalarsOnly(const double* raw) : kernel(raw) {}
};

template <class Kernel, bool kStochastic>
struct Bf16State {
  static constexpr std::size_t kBlock = kCompactBlock;
  static constexpr int kSlots = Kernel::kSlots;
  static constexpr int kStateSlots = Kernel::kStateSlots;
  static constexpr int kFirstState = kSlots - kStateSlots;
  static constexpr const SlotRole* kRoles = nullptr;  // the kernel's own layout
  struct Seed {
    static constexpr const char* kName = "rounding_seed";
  };
  using Scalars = typename std::conditional<kStochastic, ScalarsWith<typename Kernel::Scalars, Seed>,
                                            ScalarsOnly<typename Kernel::Scalars>>::type;

  static void update_blocks(const Scalars& s, void* const* buf, std::size_t tensor, std::size_t n, std::size_t first,
                            std::size_t last) {
    const std::uint32_t seed = std::uint32_t(s.extra);
    alignas(64) float work[kStateSlots][kBlock];
    for (std::size_t block = first; block < last; ++block) {
      const std::size_t begin = block * kBlock;
      const std::size_t m = n - begin < kBlock ? n - begin : kBlock;
      void* args[kSlots];
      for (int k = 0; k < kFirstState; ++k) args[k] = static_cast<float*>(buf[k]) + begin;
      for (int k = 0; k < kStateSlots; ++k) {
        const std::uint16_t* stored = static_cast<const std::uint16_t*>(buf[kFirstState + k]) + begin;
#pragma omp simd
        for (std::size_t i = 0; i < m; ++i) work[k][i] = bf16_widen(stored[i]);
        args[kFirstState + k] = work[k];
      }
      Kernel::update(s.kernel, args, m);
      for (int k = 0; k < kStateSlots; ++k) {
        std::uint16_t* stored = static_cast<std::uint16_t*>(buf[kFirstState + k]) + begin;
        if (kStochastic) {
          const std::uint32_t key = noise_key(seed, tensor, k);
#pragma omp simd
          for (std::size_t i = 0; i < m; ++i) {
            stored[i] = bf16_round_stochastic(work[k][i], mix32(key ^ std::uint32_t(begin + i)));
          }
        } else {
#pragma omp simd
          for (std::size_t i = 0; i < m; ++i) stored[i] = bf16_round_nearest(work[k][i]);
        }
      }
    }
  }
};

template <class Kernel> using NearestBf16 = Bf16State<Kernel, false>;
template <class Kernel> using StochasticBf16 = Bf16State<Kernel, true>;

template <int kFirstState, int kStates>
struct Blockwise8Roles {
  static constexpr int kSlots = kFirstState + 3 * kStates;
  static constexpr SlotRole role(int slot) {
    return slot < kFirstState                   ? SlotRole{SlotKind::kParam, 0}
           : (slot - kFirstState) % 3 == 0      ? SlotRole{SlotKind::kState, 0}
           : (slot - kFirstState) % 3 == 1      ? SlotRole{SlotKind::kBlocks, int(kCompactBlock)}
                                                : SlotRole{SlotKind::kTable, kCodes};
  }
  template <std::size_t... I>
  static constexpr auto make(std::index_sequence<I...>) {
    return std::array<SlotRole, kSlots>{role(int(I))...};
  }
  static constexpr std::array<SlotRole, kSlots> kRoles = make(std::make_index_sequence<kSlots>());
};

template <class Kernel>
struct Blockwise8 {
  static constexpr std::size_t kBlock = kCompactBlock;
  static constexpr int kStates = Kernel::kStateSlots;
  static constexpr int kFirstState = Kernel::kSlots - kStates;
  // Per state slot of the kernel: codes (uint8, per element), absmax (float32,
  // per block), map (float32, 256).
  static constexpr int kSlots = kFirstState + 3 * kStates;
  static constexpr int kStateSlots = 3 * kStates;
  static constexpr const SlotRole* kRoles = Blockwise8Roles<kFirstState, kStates>::kRoles.data();
  using Scalars = typename Kernel::Scalars;

  static void update_blocks(const Scalars& s, void* const* buf, std::size_t, std::size_t n, std::size_t first,
                            std::size_t last) {
    const CodeIndex* index[kStates];
    for (int k = 0; k < kStates; ++k) index[k] = code_index(map_of(buf, k));
    alignas(64) float work[kStates][kBlock];
    for (std::size_t block = first; block < last; ++block) {
      const std::size_t begin = block * kBlock;
      const std::size_t m = n - begin < kBlock ? n - begin : kBlock;
      void* args[Kernel::kSlots];
      for (int k = 0; k < kFirstState; ++k) args[k] = static_cast<float*>(buf[k]) + begin;
      for (int k = 0; k < kStates; ++k) {
        const std::uint8_t* codes = codes_of(buf, k) + begin;
        const float absmax = absmax_of(buf, k)[block];
        const float* map = map_of(buf, k);
        for (std::size_t i = 0; i < m; ++i) work[k][i] = map[codes[i]] * absmax;
        args[kFirstState + k] = work[k];
      }
      Kernel::update(s, args, m);
      for (int k = 0; k < kStates; ++k) {
        float absmax = 0.0f;
        for (std::size_t i = 0; i < m; ++i) absmax = max_nan(abs_value(work[k][i]), absmax);
        absmax_of(buf, k)[block] = absmax;
        std::uint8_t* codes = codes_of(buf, k) + begin;
        const CodeIndex* search = index[k];
        if (search != nullptr) {
          for (std::size_t i = 0; i < m; ++i) codes[i] = search->nearest(absmax == 0.0f ? 0.0f : work[k][i] / absmax);
        } else {
          const float* map = map_of(buf, k);
          for (std::size_t i = 0; i < m; ++i) codes[i] = nearest_code_search(map, absmax == 0.0f ? 0.0f : work[k][i] / absmax);
        }
      }
    }
  }

 private:
  static std::uint8_t* codes_of(void* const* buf, int k) { return static_cast<std::uint8_t*>(buf[kFirstState + 3 * k]); }
  static float* absmax_of(void* const* buf, int k) { return static_cast<float*>(buf[kFirstState + 3 * k + 1]); }
  static const float* map_of(void* const* buf, int k) { return static_cast<const float*>(buf[kFirstState + 3 * k + 2]); }
};

FUSEDOPTIM_KERNELS_END
