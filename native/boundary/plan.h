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

// createStep(plans): the calls of one optimizer step, from their plans (a
// non-empty Array), made once; the step holds its plans. Its run checks each
// distinct ArrayBuffer of all the plans once.
Napi::Value CreateStep(const Napi::CallbackInfo& info);
// runStep(step, scalars, threads[, clip]): updatePlanned over the step's
// plans, in one call. With `clip` (a Float64Array [kind, gradScale, maxNorm,
// flags]: the 2-, 1- or ∞-norm's reduction; flags 1 = maxNorm given, 2 = stop
// on a non-finite norm) it first takes the norm of every plan's gradients (the
// bits of reducePlanned per element type, merged) and scales each kernel's
// grad_scale by the clip coefficient, and returns the norm (of the unscaled
// gradients); if the scaled norm is not finite and flags has 2, it runs no
// kernel. Every buffer is checked before anything is read or written.
Napi::Value RunStep(const Napi::CallbackInfo& info);

}  // namespace fusedoptim
