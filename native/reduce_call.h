// The Node-API entry points of the reductions (global norms, the non-finite check).
#pragma once
#include <napi.h>

namespace fusedoptim {

// reduce(kind, tensors, p, threads): Σx², Σ|x|, max|x|, Σ|x|^p or the
// non-finite flag over all elements of all tensors (see reduce_kind.h).
Napi::Value Reduce(const Napi::CallbackInfo& info);
// reduceAsync(kind, tensors, p, threads): the same on the libuv pool; returns a Promise<number>.
Napi::Value ReduceAsync(const Napi::CallbackInfo& info);

}  // namespace fusedoptim
