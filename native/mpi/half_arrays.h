// The loops of a compressed all-reduce (collective.h) over whole arrays: the
// conversions of half.h, the sums in float32, the error feedback.
//
// The MPI addon is built once, for plain x86-64 (binding.gyp); these loops are
// compiled here three times more, for AVX-512 and AVX2 (target attributes), and
// one set is chosen when the addon loads, by the rule of the core addon's
// kernels (dispatch/isa.h: FUSEDOPTIM_ISA forces a lower path). Every path
// computes the same bits: the conversions are integer operations and exact
// float32 ones, and a sum adds the ranks' values in rank order, one float32
// addition at a time, whatever the vector width.
#pragma once
#include <cstddef>
#include <cstdint>

#include "half.h"
#include "reduce_op.h"

namespace fusedoptim::mpi {

struct HalfArrays {
  // h[i] = encode(x[i])
  void (*encode)(const float* x, std::uint16_t* h, std::size_t n);
  // x[i] = decode(h[i])
  void (*decode)(const std::uint16_t* h, float* x, std::size_t n);
  // acc[i] = acc[i] + decode(h[i]): one more rank's term of a sum in rank order.
  void (*add)(float* acc, const std::uint16_t* h, std::size_t n);
  // acc[i] = the larger of acc[i] and decode(h[i]), a NaN in acc kept (collective.cc's combine).
  void (*max)(float* acc, const std::uint16_t* h, std::size_t n);
  // Error feedback (collective.h): x = g[i] + e[i] is sent, g[i] = x, and e[i] = x - decode(encode(x)),
  // or 0 where that is not finite.
  void (*feed_back)(float* g, float* e, std::size_t n);
};

// The loops for `format` (Compression::kBf16 or kFp16) on the path this process runs.
const HalfArrays& half_arrays(Compression format);

// That path: "avx512", "avx2" or "baseline".
const char* half_arrays_isa();

// The reduction of a compressed all-reduce, on the rank that owns n values: received[r * n + i]
// is rank r's copy of value i. own[i] = encode(y), y their widened values combined by `op` in
// rank order (((x0 + x1) + x2) + ...; the mean is that sum divided by `ranks`), a block of
// values at a time (it stays in L1 while every rank's copies are added to it).
void reduce_received(const HalfArrays& loops, ReduceOp op, const std::uint16_t* received, int ranks, std::size_t n, std::uint16_t* own);

}  // namespace fusedoptim::mpi
