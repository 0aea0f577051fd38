// Compact optimizer state: the storages a kernel's state may take besides its
// param's type, and the drivers that run a kernel over them. Each storage is
// a tag type S for the kernel's template (Kernel<float, S>) with a slot view
// (state_slot.h): the kernel loads and widens an element, steps, and rounds
// and stores it in the same vectorised loop, its formula unchanged.
//
//   Bf16Nearest     bfloat16 state rounded to nearest even.
//   stochastic      bfloat16 state rounded stochastically: up with the
//   bfloat16        probability of the discarded fraction, so the rounding
//                   errors average out over steps instead of stalling small
//                   updates. The random bits are a hash of (seed, tensor,
//                   pair of slots, element): the same for any thread count.
//                   Stepped through a 256-element float32 tile (Bf16State
//                   below).
//   Codes8          8-bit state as in Dettmers et al., "8-bit Optimizers via
//                   Block-wise Quantization" (2022): per state slot a code
//                   per element, a float32 absmax per block of 256 and the
//                   code's table of 256 values (code8.h: which code the slot
//                   holds). The kernel reads codes and writes its new
//                   moments into a tile of the block on the stack (in L1);
//                   the driver then takes the tile's absmax and encodes it.
//                   Blocks never straddle threads (multi_tensor_blocks.h), so
//                   the codes are the same for any thread count.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include "dispatch/kernel_table.h"
#include "bfloat16.h"
#include "code8.h"
#include "state_slot.h"
#include "drivers/multi_tensor.h"
#include "drivers/multi_tensor_blocks.h"
#include "drivers/tensor_batch.h"
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

// The random stream of one pair of state slots of one tensor in one step.
inline std::uint32_t noise_key(std::uint32_t seed, std::size_t tensor, int pair) {
  return mix32(seed ^ mix32(std::uint32_t(tensor) * 0x9e3779b9u + std::uint32_t(pair)));
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

// ---- bfloat16 --------------------------------------------------------------

// A new value on its way into bfloat16 state, rounded to nearest even.
struct Bf16Nearest {
  float value;
  explicit Bf16Nearest(float x) : value(x) {}
};

template <>
struct SlotOf<Bf16Nearest> {
  struct Element {
    std::uint16_t* at;
    operator float() const { return bf16_widen(*at); }
    void operator=(Bf16Nearest x) const { *at = bf16_round_nearest(x.value); }
  };
  struct type {
    std::uint16_t* bits;
    Element operator[](std::size_t i) const { return Element{bits + i}; }
  };
  static type view(void* buffer) { return type{static_cast<std::uint16_t*>(buffer)}; }
};

// Runs a kernel over bfloat16 state: Kernel<float, Bf16Nearest> in one loop
// when rounding to nearest; Kernel<float, float> over a 256-element tile per
// state slot when rounding stochastically: the block is widened into the
// tile, stepped, and rounded back with the slot's random bits, all in L1.
// (A view that rounds stochastically in the kernel's own loop needs the
// stream in each element's view, and GCC then keeps the views in memory and
// does not vectorise the loop: measured 5x slower. So does a view of two
// pointers that widens in place and writes the tile: OpenMP makes each
// element's view a per-lane array on the stack, and GCC 12 cannot vectorise
// its stores.)
//
// The random bits: one 32-bit hash per element serves two state slots, its
// low half the first and its high half the second (the hash is most of the
// cost of rounding stochastically; a murmur3 finalizer's halves are each
// uniform). Slots 2j and 2j+1 draw from the stream noise_key(seed, tensor, j).
// Elementwise, like apply_update: the bits follow an element's index in its
// tensor, not the thread that stores it.
template <template <typename, typename> class Kernel, bool kStochastic>
struct Bf16State {
  using K = typename std::conditional<kStochastic, Kernel<float, float>, Kernel<float, Bf16Nearest>>::type;
  static constexpr int kSlots = K::kSlots;
  static constexpr int kStateSlots = K::kStateSlots;
  static constexpr int kFirstState = kSlots - kStateSlots;
  static constexpr const SlotRole* kRoles = nullptr;  // the kernel's own layout
  struct Seed {
    static constexpr const char* kName = "rounding_seed";
  };
  using Scalars = typename std::conditional<kStochastic, ScalarsWith<typename K::Scalars, Seed>,
                                            ScalarsOnly<typename K::Scalars>>::type;

  static void apply(const TensorBatch& b, const double* raw_scalars, int threads) {
    const Scalars s(raw_scalars);
    const std::uint32_t seed = std::uint32_t(s.extra);
    for_each_segment(b, threads, [&](std::size_t t, std::size_t begin, std::size_t end) {
      void* const* buffers = b.buffers + t * std::size_t(b.slots);
      void* args[kSlots];
      if (!kStochastic) {
        for (int k = 0; k < kSlots; ++k) {
          args[k] = k < kFirstState ? static_cast<void*>(static_cast<float*>(buffers[k]) + begin)
                                    : static_cast<void*>(stored_of(buffers, k - kFirstState) + begin);
        }
        K::update(s.kernel, args, end - begin);
        return;
      }
      alignas(64) float tile[kStateSlots > 0 ? kStateSlots : 1][kCompactBlock];
      for (std::size_t first = begin; first < end; first += kCompactBlock) {
        const std::size_t m = end - first < kCompactBlock ? end - first : kCompactBlock;
        for (int k = 0; k < kFirstState; ++k) args[k] = static_cast<float*>(buffers[k]) + first;
        for (int k = 0; k < kStateSlots; ++k) {
          const std::uint16_t* stored = stored_of(buffers, k) + first;
          float* values = tile[k];
#pragma omp simd
          for (std::size_t i = 0; i < m; ++i) values[i] = bf16_widen(stored[i]);
          args[kFirstState + k] = values;
        }
        K::update(s.kernel, args, m);
        for (int k = 0; k < kStateSlots; k += 2) {
          const std::uint32_t key = noise_key(seed, t, k / 2);
          std::uint16_t* into = stored_of(buffers, k) + first;
          if (k + 1 < kStateSlots) {
            round_pair(tile[k], tile[k + 1], std::uint32_t(m), key + std::uint32_t(first), into, stored_of(buffers, k + 1) + first);
          } else {
            round_one(tile[k], std::uint32_t(m), key + std::uint32_t(first), into);
          }
        }
      }
    });
  }

 private:
  static std::uint16_t* stored_of(void* const* buffers, int k) { return static_cast<std::uint16_t*>(buffers[kFirstState + k]); }
  // Rounds a[0, m) and b[0, m) into their storage, element i with the hash
  // of start + i (start: the stream's key plus the first element's index in
  // its tensor): its low half for a, its high half for b.
  static void round_pair(const float* a, const float* b, std::uint32_t m, std::uint32_t start, std::uint16_t* into_a,
                         std::uint16_t* into_b) {
#pragma omp simd
    for (std::uint32_t i = 0; i < m; ++i) {
      const std::uint32_t noise = mix32(start + i);
      into_a[i] = bf16_round_stochastic(a[i], noise);
      into_b[i] = bf16_round_stochastic(b[i], noise >> 16);
    }
  }
  static void round_one(const float* a, std::uint32_t m, std::uint32_t start, std::uint16_t* into_a) {
#pragma omp simd
    for (std::uint32_t i = 0; i < m; ++i) into_a[i] = bf16_round_stochastic(a[i], mix32(start + i));
  }
};

// ---- 8-bit ------------------------------------------------------------------

// A new value on its way into 8-bit state (through the block's tile).
struct Codes8 {
  float value;
  explicit Codes8(float x) : value(x) {}
};

// One block of an 8-bit slot as its driver hands it to the kernel.
struct Codes8Block {
  const std::uint8_t* codes;
  float absmax;
  Code8 code;
  float* tile;
};

template <>
struct SlotOf<Codes8> {
  struct Element {
    const std::uint8_t* code_at;
    float* tile_at;
    const Code8* code;
    float absmax;
    operator float() const { return code->decode(*code_at, absmax); }
    void operator=(Codes8 x) const { *tile_at = x.value; }
  };
  struct type {
    Codes8Block block;
    Element operator[](std::size_t i) const { return Element{block.codes + i, block.tile + i, &block.code, block.absmax}; }
  };
  static type view(void* buffer) { return type{buffer != nullptr ? *static_cast<const Codes8Block*>(buffer) : Codes8Block{}}; }
};

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

// Runs Kernel<float, Codes8> block by block (apply_blocks).
template <template <typename, typename> class Kernel>
struct Blockwise8 {
  using K = Kernel<float, Codes8>;
  static constexpr std::size_t kBlock = kCompactBlock;
  static constexpr int kStates = K::kStateSlots;
  static constexpr int kFirstState = K::kSlots - kStates;
  // Per state slot of the kernel: codes (uint8, per element), absmax (float32,
  // per block), the code's table (float32, 256).
  static constexpr int kSlots = kFirstState + 3 * kStates;
  static constexpr int kStateSlots = 3 * kStates;
  static constexpr const SlotRole* kRoles = Blockwise8Roles<kFirstState, kStates>::kRoles.data();
  using Scalars = typename K::Scalars;

  static void apply(const TensorBatch& b, const double* raw_scalars, int threads) {
    apply_blocks<Blockwise8>(b, raw_scalars, threads);
  }

  static void update_blocks(const Scalars& s, void* const* buf, std::size_t, std::size_t n, std::size_t first,
                            std::size_t last) {
    Code8 code[kStates];
    for (int k = 0; k < kStates; ++k) code[k] = Code8::of_table(table_of(buf, k));
    alignas(64) float tile[kStates][kBlock];
    for (std::size_t block = first; block < last; ++block) {
      const std::size_t begin = block * kBlock;
      const std::size_t m = n - begin < kBlock ? n - begin : kBlock;
      void* args[K::kSlots];
      Codes8Block slots[kStates];
      for (int k = 0; k < kFirstState; ++k) args[k] = static_cast<float*>(buf[k]) + begin;
      for (int k = 0; k < kStates; ++k) {
        slots[k] = Codes8Block{codes_of(buf, k) + begin, absmax_of(buf, k)[block], code[k], tile[k]};
        args[kFirstState + k] = &slots[k];
      }
      K::update(s, args, m);
      for (int k = 0; k < kStates; ++k) {
        const float absmax = block_absmax(tile[k], m);
        absmax_of(buf, k)[block] = absmax;
        std::uint8_t* codes = codes_of(buf, k) + begin;
        // One loop per code, each with its constants in the instructions (the
        // unsigned code's has no sign to set).
        if (code[k].is_signed()) {
          encode_block(Code8::signed_code(), tile[k], m, inverse_of(absmax), codes);
        } else {
          encode_block(Code8::unsigned_code(), tile[k], m, inverse_of(absmax), codes);
        }
      }
    }
  }

 private:
  // The largest magnitude of values[0, m), a quiet NaN if any is NaN (its
  // bits then do not depend on which NaN came first). Taken on the bits:
  // magnitudes order as their bits read as (non-negative) integers, and every
  // NaN's lie above infinity's, so one integer max per vector finds the
  // largest or a NaN. Signed, because SSE2 has no unsigned compare. (No omp
  // simd reduction: GCC 12 then keeps the accumulators on the stack; an
  // integer max needs no licence to reorder, so -O3 vectorises it anyway.)
  static float block_absmax(const float* values, std::size_t m) {
    std::int32_t most = 0;
    for (std::size_t i = 0; i < m; ++i) {
      const std::int32_t a = std::int32_t(float_bits(values[i]) & 0x7fffffffu);
      most = a > most ? a : most;
    }
    return bits_are_nan(std::uint32_t(most)) ? bits_float(0x7fc00000u) : bits_float(std::uint32_t(most));
  }

  static void encode_block(const Code8 code, const float* values, std::size_t m, float inverse, std::uint8_t* codes) {
#pragma omp simd
    for (std::size_t i = 0; i < m; ++i) codes[i] = code.encode(values[i], inverse);
  }
  static std::uint8_t* codes_of(void* const* buf, int k) { return static_cast<std::uint8_t*>(buf[kFirstState + 3 * k]); }
  static float* absmax_of(void* const* buf, int k) { return static_cast<float*>(buf[kFirstState + 3 * k + 1]); }
  static const float* table_of(void* const* buf, int k) { return static_cast<const float*>(buf[kFirstState + 3 * k + 2]); }
};

FUSEDOPTIM_KERNELS_END
