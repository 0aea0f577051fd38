// The interface between the Node-API side and the kernels: one table of
// function pointers per instruction set, chosen once when the addon loads.
#pragma once
#include "reduce_kind.h"
#include "tensor_batch.h"

namespace fusedoptim {

// Elementwise multi-tensor kernels. The numeric values are part of the addon's
// interface: lib/native.ts declares the same list and checks it at load.
enum class UpdateKind : int {
  kSgd = 0,
  kSgdMomentum = 1,
  kSgdNesterov = 2,
  kAdagrad = 3,
  kRMSprop = 4,
  kRMSpropCentered = 5,
  kRMSpropMomentum = 6,
  kRMSpropCenteredMomentum = 7,
  kAdam = 8,
  kAdamAmsgrad = 9,
  kAccumulate = 10,
  kScale = 11,
  kClamp = 12,
};
constexpr int kUpdateKindCount = 13;

using UpdateFn = void (*)(const TensorBatch& batch, const double* scalars, int threads);
using ReduceFn = double (*)(const TensorBatch& batch, double p, int threads, const ReduceScratch& scratch);

struct UpdateKernel {
  const char* name;
  int slots;         // buffers per tensor
  int scalar_count;  // length of the scalars array
  UpdateFn run[2];   // [0]: float, [1]: double
};

struct KernelTable {
  const char* isa;
  UpdateKernel update[kUpdateKindCount];
  ReduceFn reduce[kReduceKindCount][2];
};

// The table for the best instruction set this CPU supports (or the one named by
// FUSEDOPTIM_ISA in the environment, for testing every path on one machine).
const KernelTable& kernels();

// Threads OpenMP would use by default (honours OMP_NUM_THREADS); 1 without OpenMP.
int default_thread_count();
bool has_openmp();

}  // namespace fusedoptim
