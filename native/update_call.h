// The Node-API entry points of the elementwise multi-tensor kernels (every
// optimizer step, gradient accumulation, scaling and clamping).
#pragma once
#include <napi.h>

namespace fusedoptim {

// update(kind, buffers, scalars, threads): runs one kernel over all tensors.
Napi::Value Update(const Napi::CallbackInfo& info);
// updateAsync(kind, buffers, scalars, threads): the same on the libuv pool; returns a Promise<void>.
Napi::Value UpdateAsync(const Napi::CallbackInfo& info);

}  // namespace fusedoptim
