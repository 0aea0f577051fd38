// The nearest code of a sorted 8-bit code map (256 ascending float32 values):
// the quantization step of 8-bit optimizer state, once per state element per
// step, so it must cost a few instructions, not a scan.
//
// The answer is defined as the JavaScript reference computes it (a binary
// search): lo = the largest index whose value is <= x (0 if none), then lo + 1
// if that value is strictly nearer to x than lo's. Here the same answer comes
// from an index built once per distinct map: the top 16 bits of x's float32
// pattern (its bfloat16 prefix) select a bucket, the bucket gives
// the largest code at or below every x in it, and a fixed number of branch-free
// steps (the most codes any bucket holds) walks up to lo.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include "bfloat16.h"
#include "kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

constexpr int kCodes = 256;

// The largest index whose value is <= x, or 0 (values ascending; NaN gives 0).
inline int largest_at_most(const float* values, float x) {
  int lo = 0;
  for (int step = kCodes / 2; step >= 1; step >>= 1) lo += values[lo + step] <= x ? step : 0;
  return lo;
}

// The reference's definition, by binary search: for maps the index cache has
// no room for.
inline std::uint8_t nearest_code_search(const float* values, float x) {
  int lo = largest_at_most(values, x);
  if (lo + 1 < kCodes && values[lo + 1] - x < x - values[lo]) ++lo;
  return std::uint8_t(lo);
}

struct CodeIndex {
  // The map, then a NaN sentinel: no x is >= it, so a walk stops at 255.
  float values[kCodes + 1];
  // Per bucket of 2^16 float patterns (x's bfloat16 prefix): the largest code
  // at or below every x in it. Buckets of 1/128 of an octave are narrower
  // than the gaps of the dynamic maps above 2^-7, so a walk is a step or two.
  std::uint8_t start[1 << 16];
  // Walk steps that take start[] to the answer in every bucket.
  int steps;

  void build(const float* map) {
    std::memcpy(values, map, sizeof(float) * kCodes);
    values[kCodes] = std::numeric_limits<float>::quiet_NaN();
    steps = 0;
    for (std::uint32_t b = 0; b < (1u << 16); ++b) {
      const std::uint32_t low = b << 16, high = low | 0xffffu;
      const bool negative = (b & 0x8000u) != 0;
      const float least = bits_float(negative ? high : low);
      const float most = bits_float(negative ? low : high);
      start[b] = 0;
      if (least != least || most != most) continue;  // NaN patterns: 0, as the reference's search answers NaN
      const int lo = largest_at_most(values, least);
      const int hi = largest_at_most(values, most);
      start[b] = std::uint8_t(lo);
      if (hi - lo > steps) steps = hi - lo;
    }
  }

  std::uint8_t nearest(float x) const {
    int lo = start[float_bits(x) >> 16];
    for (int k = 0; k < steps; ++k) lo += values[lo + 1] <= x ? 1 : 0;
    const int up = lo + 1;
    return std::uint8_t(values[up] - x < x - values[lo] ? up : lo);
  }
};

// The index of `map`, built on first sight of its values and kept for the
// process (a few maps ever exist: the signed and the unsigned one), or null
// when the cache is full (the caller then searches). Lookups compare the
// 1 KiB of values, so a map edited in place is never served a stale index.
// No heap: a fixed table.
inline const CodeIndex* code_index(const float* map) {
  static CodeIndex cache[4];
  static int used = 0;
  // A spin lock from compiler builtins, not std::mutex: nothing here may throw
  // or instantiate a std:: template (see kernel_namespace.h), and the lock is
  // held for a 1 KiB comparison, or once per map for a build.
  static bool locked = false;
  while (__atomic_test_and_set(&locked, __ATOMIC_ACQUIRE)) {
  }
  const CodeIndex* found = nullptr;
  for (int k = 0; k < used && found == nullptr; ++k) {
    if (std::memcmp(cache[k].values, map, sizeof(float) * kCodes) == 0) found = &cache[k];
  }
  if (found == nullptr && used < 4) {
    cache[used].build(map);
    found = &cache[used++];
  }
  __atomic_clear(&locked, __ATOMIC_RELEASE);
  return found;
}

FUSEDOPTIM_KERNELS_END
