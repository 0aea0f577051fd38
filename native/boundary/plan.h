// A planned update: the buffers of a kernel call resolved once and reused by
// every step whose buffers are the very same typed arrays (an optimizer's
// params, gradients and state usually are, step after step).
#pragma once
#include <napi.h>

namespace fusedoptim {

// createPlan(kind, buffers): checks `buffers` exactly as update() does and
// returns an opaque, type-tagged plan. The plan keeps none of them alive (it
// refuses to run once one was collected): their owners must.
Napi::Value CreatePlan(const Napi::CallbackInfo& info);
// updatePlanned(plans, scalars, threads): update(kind, buffers, scalars, threads)
// over each plan's buffers, after checking that none was detached or resized.
// `plans` is one plan or an Array of them (an optimizer step's calls: all are
// checked before any runs); `scalars` holds each plan's scalars in turn.
Napi::Value UpdatePlanned(const Napi::CallbackInfo& info);

// reducePlanned(plans, slot, kind, p, threads, initial): reduce(kind, ...) over
// buffer `slot` (a param-typed slot: the gradients are slot 1) of every tensor
// of the plans (one plan or an Array of plans whose params share an element
// type), merged in order into `initial` (see ReduceFn), after the same check.
Napi::Value ReducePlanned(const Napi::CallbackInfo& info);

}  // namespace fusedoptim
