// Chooses the kernel table once, from what the CPU supports. One binary runs
// AVX-512 code on AVX-512 machines, AVX2+FMA code on AVX2 machines and plain
// x86-64 (SSE2) code elsewhere; no -march=native anywhere.
#include <cstdlib>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernel_table.h"

namespace fusedoptim {
namespace baseline { const KernelTable& kernel_table(); }
#if FUSEDOPTIM_X86_DISPATCH
namespace avx2 { const KernelTable& kernel_table(); }
namespace avx512 { const KernelTable& kernel_table(); }
#endif

namespace {

const KernelTable& choose() {
#if FUSEDOPTIM_X86_DISPATCH
  __builtin_cpu_init();
  const bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  // FUSEDOPTIM_ISA lets tests and benchmarks run a lower path on a better CPU;
  // it can never select a path the CPU lacks.
  const char* wanted = std::getenv("FUSEDOPTIM_ISA");
  if (wanted != nullptr && *wanted != '\0') {
    if (std::strcmp(wanted, "baseline") == 0) return baseline::kernel_table();
    if (std::strcmp(wanted, "avx2") == 0 && has_avx2) return avx2::kernel_table();
    if (std::strcmp(wanted, "avx512") == 0 && has_avx512) return avx512::kernel_table();
  }
  if (has_avx512) return avx512::kernel_table();
  if (has_avx2) return avx2::kernel_table();
#endif
  return baseline::kernel_table();
}

}  // namespace

const KernelTable& kernels() {
  // A function-local static is initialised once, thread-safely: the choice is
  // a constant of the process, shared by every addon instance and thread.
  static const KernelTable& table = choose();
  return table;
}

int default_thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fusedoptim
