// The interface between the Node-API side and the kernels: one table of
// function pointers per instruction set, chosen once when the addon loads.
//
// An update kernel is a template over the param's element type P and the
// state's element type S (DeepSpeed's create_invoker<c10::BFloat16, float>
// pattern); its row lists the (P, S) combinations it is instantiated for, and
// a call runs the variant that matches its buffers' types. The rows are
// addressed by index; lib/kernels/kernel_def.ts finds each kernel by name and
// checks its slots and scalar names when it first uses it.
#pragma once
#include "dtype.h"
#include "reduce_kind.h"
#include "drivers/tensor_batch.h"

namespace fusedoptim {

using UpdateFn = void (*)(const TensorBatch& batch, const double* scalars, int threads);
// A reduction over all elements of the batch's first slot, its block results
// merged in order into `initial` (0 for a fresh total; a running total
// continues a reduction over earlier tensors bit for bit).
using ReduceFn = double (*)(const TensorBatch& batch, double p, int threads, const ReduceScratch& scratch, double initial);

// What one of a kernel's buffers per tensor is. Most kernels need only the
// first two (their first `slots - state_slots` buffers are params, the rest
// state, and `roles` is null); 8-bit state adds a float32 scale per block of
// the tensor's elements and a float32 code map of fixed length; Adafactor's
// factored second moment keeps a statistic per row and per column.
enum class SlotKind : int {
  kParam = 0,   // the param's element type and length (param, grad)
  kState = 1,   // the state's element type, the param's length
  kBlocks = 2,  // float32, one per `size` elements of the param (rounded up)
  kTable = 3,   // float32, exactly `size` elements, read only
  kRows = 4,    // the state's element type, one per row of the param's matrices (factored_shape.h)
  kCols = 5,    // the state's element type, one per column of them
};

struct SlotRole {
  SlotKind kind;
  int size;  // kBlocks: elements per block; kTable: elements; else 0
};

// One instantiation of a kernel: for params (and gradients) of type `param`
// and state of type `state`.
struct KernelVariant {
  DType param;
  DType state;
  UpdateFn run;
};
constexpr int kMaxVariants = 8;

struct UpdateKernel {
  const char* name;
  // Buffers per tensor: the first `slots - state_slots` have the param's
  // element type (param, grad), the last `state_slots` the state's.
  int slots;
  int state_slots;
  // Each slot's role, `slots` of them; null for the plain layout above.
  const SlotRole* roles;
  // The scalars, by name, in the order the Float64Array holds them.
  int scalar_count;
  const char* const* scalar_names;
  int variant_count;
  KernelVariant variants[kMaxVariants];

  // The variant for these element types, or nullptr.
  const KernelVariant* find(DType param, DType state) const {
    for (int v = 0; v < variant_count; ++v) {
      if (variants[v].param == param && variants[v].state == state) return &variants[v];
    }
    return nullptr;
  }
};

struct KernelTable {
  const char* isa;
  const UpdateKernel* update;
  int update_count;
  ReduceFn reduce[kReduceKindCount][2];  // [kind][0: float, 1: double]
};

// The table for the best instruction set this CPU supports (or the one named by
// FUSEDOPTIM_ISA in the environment, for testing every path on one machine).
const KernelTable& kernels();

// Threads OpenMP would use by default (honours OMP_NUM_THREADS); 1 without OpenMP.
int default_thread_count();
bool has_openmp();

}  // namespace fusedoptim
