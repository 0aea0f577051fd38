#include "half_arrays.h"

#include <algorithm>

#include "dispatch/isa.h"

namespace fusedoptim::mpi {

namespace {

// The loops, each a template over the codec (half.h). always_inline: each path's
// functions below take the loop whole, and compile it for their instruction set.
#define FUSEDOPTIM_LOOP inline __attribute__((always_inline))

template <class Codec>
FUSEDOPTIM_LOOP void encode_loop(const float* x, std::uint16_t* h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) h[i] = Codec::encode(x[i]);
}

template <class Codec>
FUSEDOPTIM_LOOP void decode_loop(const std::uint16_t* h, float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] = Codec::decode(h[i]);
}

template <class Codec>
FUSEDOPTIM_LOOP void add_loop(float* acc, const std::uint16_t* h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] = acc[i] + Codec::decode(h[i]);
}

template <class Codec>
FUSEDOPTIM_LOOP void max_loop(float* acc, const std::uint16_t* h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float a = acc[i], x = Codec::decode(h[i]);
    acc[i] = bits_float(blend((a != a) | (a > x), float_bits(a), float_bits(x)));
  }
}

template <class Codec>
FUSEDOPTIM_LOOP void feed_back_loop(float* g, float* e, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float x = g[i] + e[i];
    const float error = x - Codec::decode(Codec::encode(x));
    g[i] = x;
    // std::isfinite, as a comparison of bits (which vectorises).
    e[i] = (float_bits(error) & 0x7f800000u) != 0x7f800000u ? error : 0.0f;
  }
}

// One path: the five loops for a codec, as functions compiled with `attributes`, and their table.
#define FUSEDOPTIM_HALF_PATH(isa, attributes)                                                              \
  namespace isa {                                                                                          \
  template <class Codec>                                                                                   \
  attributes void encode(const float* x, std::uint16_t* h, std::size_t n) { encode_loop<Codec>(x, h, n); } \
  template <class Codec>                                                                                   \
  attributes void decode(const std::uint16_t* h, float* x, std::size_t n) { decode_loop<Codec>(h, x, n); } \
  template <class Codec>                                                                                   \
  attributes void add(float* acc, const std::uint16_t* h, std::size_t n) { add_loop<Codec>(acc, h, n); }   \
  template <class Codec>                                                                                   \
  attributes void max(float* acc, const std::uint16_t* h, std::size_t n) { max_loop<Codec>(acc, h, n); }   \
  template <class Codec>                                                                                   \
  attributes void feed_back(float* g, float* e, std::size_t n) { feed_back_loop<Codec>(g, e, n); }         \
  template <class Codec>                                                                                   \
  constexpr HalfArrays table{encode<Codec>, decode<Codec>, add<Codec>, max<Codec>, feed_back<Codec>};      \
  }

FUSEDOPTIM_HALF_PATH(baseline, )
#if FUSEDOPTIM_X86_DISPATCH
FUSEDOPTIM_HALF_PATH(avx2, __attribute__((target("avx2,fma"))))
FUSEDOPTIM_HALF_PATH(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512"))))
#endif

struct Chosen {
  Isa isa;
  const HalfArrays* bf16;
  const HalfArrays* fp16;
};

Chosen choose() {
  const Isa isa = choose_isa();
  switch (isa) {
#if FUSEDOPTIM_X86_DISPATCH
    case Isa::kAvx512: return {isa, &avx512::table<Bf16Codec>, &avx512::table<Fp16Codec>};
    case Isa::kAvx2: return {isa, &avx2::table<Bf16Codec>, &avx2::table<Fp16Codec>};
#endif
    default: return {Isa::kBaseline, &baseline::table<Bf16Codec>, &baseline::table<Fp16Codec>};
  }
}

const Chosen& chosen() {
  // Decided once, thread-safely (a function-local static): a constant of the process.
  static const Chosen c = choose();
  return c;
}

}  // namespace

const HalfArrays& half_arrays(Compression format) { return format == Compression::kFp16 ? *chosen().fp16 : *chosen().bf16; }

const char* half_arrays_isa() {
  switch (chosen().isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "baseline";
  }
}

void reduce_received(const HalfArrays& loops, ReduceOp op, const std::uint16_t* received, int ranks, std::size_t n, std::uint16_t* own) {
  constexpr std::size_t kBlock = 2048;
  float y[kBlock];
  const float divisor = float(ranks);
  const auto copy = [&](int r, std::size_t b) { return received + std::size_t(r) * n + b; };
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t m = std::min(kBlock, n - b);
    loops.decode(copy(0, b), y, m);
    for (int r = 1; r < ranks; ++r) (op == ReduceOp::kMax ? loops.max : loops.add)(y, copy(r, b), m);
    if (op == ReduceOp::kMean) {
      for (std::size_t i = 0; i < m; ++i) y[i] = y[i] / divisor;
    }
    loops.encode(y, own + b, m);
  }
}

}  // namespace fusedoptim::mpi
