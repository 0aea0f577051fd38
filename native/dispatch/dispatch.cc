// Chooses the kernel table once, from what the CPU supports (isa.h). One binary
// runs AVX-512 code on AVX-512 machines, AVX2+FMA code on AVX2 machines and
// plain x86-64 (SSE2) code elsewhere; no -march=native anywhere.
#ifdef _OPENMP
#include <omp.h>
#endif
#include "isa.h"
#include "kernel_table.h"

namespace fusedoptim {
namespace baseline { const KernelTable& kernel_table(); }
#if FUSEDOPTIM_X86_DISPATCH
namespace avx2 { const KernelTable& kernel_table(); }
namespace avx512 { const KernelTable& kernel_table(); }
#endif

namespace {

const KernelTable& choose() {
  switch (choose_isa()) {
#if FUSEDOPTIM_X86_DISPATCH
    case Isa::kAvx512: return avx512::kernel_table();
    case Isa::kAvx2: return avx2::kernel_table();
#endif
    default: return baseline::kernel_table();
  }
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
