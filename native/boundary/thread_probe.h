// A diagnostic entry point: which threads the kernels' work splitting runs on.
#pragma once
#include <napi.h>

namespace fusedoptim {

// threadProbe(elements, threads) → { segments, threadsUsed, team, callerRan }.
Napi::Value ThreadProbe(const Napi::CallbackInfo& info);

}  // namespace fusedoptim
