// The loops of a compressed all-reduce (native/mpi/half_arrays.h) over gradient-like
// float32 values, outside MPI: encode (round to 16 bits), decode (widen), the owner's
// reduction of 2 ranks' copies (reduce_received) and error feedback, for bf16 and fp16.
// Each runs in a function of its own (measure_<loop>_<format>), so callgrind counts
// its instructions (its inclusive count / 2^20 is per element); run natively, it
// prints nanoseconds per element.
//
//   g++ -O3 -fno-math-errno -ffp-contract=off -std=c++17 -DFUSEDOPTIM_ISA=mpi -DFUSEDOPTIM_X86_DISPATCH=1 -Inative
//       bench/native/half_loops.cc native/mpi/half_arrays.cc -o /tmp/half_loops
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/half.cg /tmp/half_loops 1
//   callgrind_annotate --inclusive=yes --threshold=100 /tmp/half.cg | grep measure_
//   /tmp/half_loops 25        # ns per element, median of 25 interleaved rounds
//
// FUSEDOPTIM_ISA=baseline|avx2 forces a lower path. Valgrind runs no AVX-512: under it the
// AVX2 path is the best one. The flags are the addon's (binding.gyp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "mpi/half_arrays.h"

using fusedoptim::mpi::Compression;
using fusedoptim::mpi::HalfArrays;
using fusedoptim::mpi::ReduceOp;

namespace {

constexpr std::size_t kN = std::size_t(1) << 20;
constexpr int kRanks = 2;

// One format's buffers: each rank's gradients, normal with σ = 10^-3 (about 5% of them below
// 2^-14, fp16's subnormals), and what the loops write.
struct Data {
  std::vector<float> grads, sent, residuals;
  std::vector<std::uint16_t> packed, received, own;
  explicit Data(Compression f) : grads(kN), sent(kN), residuals(kN), packed(kN), received(kRanks * kN), own(kN) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1e-3f);
    std::vector<float> all(kRanks * kN);
    for (float& g : all) g = normal(rng);
    fusedoptim::mpi::half_arrays(f).encode(all.data(), received.data(), all.size());
    std::copy(all.begin(), all.begin() + kN, grads.begin());
  }
};

// measure_<loop>_bf16 and measure_<loop>_fp16: one loop over kN elements, in a function of its own.
#define MEASURE(name, body)                                                                                  \
  template <Compression F>                                                                                   \
  inline void name##_of(Data& d) {                                                                           \
    const HalfArrays& loops = fusedoptim::mpi::half_arrays(F);                                               \
    body;                                                                                                    \
  }                                                                                                          \
  __attribute__((noinline)) void measure_##name##_bf16(Data& d) { name##_of<Compression::kBf16>(d); }         \
  __attribute__((noinline)) void measure_##name##_fp16(Data& d) { name##_of<Compression::kFp16>(d); }

MEASURE(encode, loops.encode(d.grads.data(), d.packed.data(), kN))
MEASURE(decode, loops.decode(d.packed.data(), d.sent.data(), kN))
MEASURE(reduce, fusedoptim::mpi::reduce_received(loops, ReduceOp::kSum, d.received.data(), kRanks, kN, d.own.data()))
MEASURE(feed_back, loops.feed_back(d.sent.data(), d.residuals.data(), kN))

using Measure = void (*)(Data&);
struct Loop {
  const char* name;
  Measure bf16, fp16;
};
constexpr Loop kLoops[] = {{"encode", measure_encode_bf16, measure_encode_fp16},
                           {"decode", measure_decode_bf16, measure_decode_fp16},
                           {"reduce (2 ranks)", measure_reduce_bf16, measure_reduce_fp16},
                           {"feed_back", measure_feed_back_bf16, measure_feed_back_fp16}};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 1;
  std::printf("path: %s, %zu elements, %d round(s)\n", fusedoptim::mpi::half_arrays_isa(), kN, rounds);
  for (const Compression f : {Compression::kBf16, Compression::kFp16}) {
    Data d(f);
    // Interleaved: round k runs every loop once, so drift on a shared machine hits them alike.
    std::vector<std::vector<double>> ns(std::size(kLoops));
    for (int k = 0; k < rounds; ++k) {
      for (std::size_t l = 0; l < std::size(kLoops); ++l) {
        const auto t0 = std::chrono::steady_clock::now();
        (f == Compression::kBf16 ? kLoops[l].bf16 : kLoops[l].fp16)(d);
        ns[l].push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / double(kN));
      }
    }
    for (std::size_t l = 0; l < std::size(kLoops); ++l) {
      std::sort(ns[l].begin(), ns[l].end());
      std::printf("%s %-16s %.3f ns/element (median of %d)\n", f == Compression::kBf16 ? "bf16" : "fp16", kLoops[l].name, ns[l][ns[l].size() / 2], rounds);
    }
  }
  return 0;
}
