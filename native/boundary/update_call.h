// The Node-API entry points of the elementwise multi-tensor kernels (every
// optimizer step, gradient accumulation, scaling and clamping), and the
// argument readers they share with plan.cc.
#pragma once
#include <napi.h>

#include "args.h"
#include "dispatch/kernel_table.h"

namespace fusedoptim {

// update(kernel, buffers, scalars, threads): runs one kernel over all tensors.
Napi::Value Update(const Napi::CallbackInfo& info);
// updateAsync(kernel, buffers, scalars, threads): the same on the libuv pool; returns a Promise<void>.
Napi::Value UpdateAsync(const Napi::CallbackInfo& info);

// The kernel row at index `value` of the table.
const UpdateKernel& read_kernel(Napi::Env env, const Napi::Value& value);
// The buffer layout of `kernel`'s calls.
BatchLayout layout_of(const UpdateKernel& kernel);
// The instantiation of `kernel` for the element types of `batch`; throws
// ERR_DTYPE_MISMATCH if the kernel has none for that combination.
UpdateFn variant_for(Napi::Env env, const UpdateKernel& kernel, const ResolvedBatch& batch);

}  // namespace fusedoptim
