// Which instruction-set path a process runs, decided once from what the CPU
// supports: AVX-512 (F, VL, BW, DQ), else AVX2 with FMA, else plain x86-64
// (SSE2). The core addon picks its kernel table by it (dispatch.cc), the MPI
// addon the loops of its compressed all-reduce (mpi/half_arrays.cc).
// FUSEDOPTIM_ISA lets tests and benchmarks run a lower path on a better CPU; it
// can never select a path the CPU lacks.
#pragma once
#include <cstdlib>
#include <cstring>

namespace fusedoptim {

enum class Isa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

inline Isa choose_isa() {
#if FUSEDOPTIM_X86_DISPATCH
  __builtin_cpu_init();
  const bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const char* wanted = std::getenv("FUSEDOPTIM_ISA");
  if (wanted != nullptr && *wanted != '\0') {
    if (std::strcmp(wanted, "baseline") == 0) return Isa::kBaseline;
    if (std::strcmp(wanted, "avx2") == 0 && has_avx2) return Isa::kAvx2;
    if (std::strcmp(wanted, "avx512") == 0 && has_avx512) return Isa::kAvx512;
  }
  if (has_avx512) return Isa::kAvx512;
  if (has_avx2) return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

}  // namespace fusedoptim
