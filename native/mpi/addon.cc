// Registers the MPI addon's functions; nothing else. lib/distributed/mpi_addon.ts
// declares the same surface as a TypeScript interface and loads this file with
// RTLD_GLOBAL (see there why).
#include <napi.h>

#include "collective.h"
#include "in_flight.h"
#include "world.h"

namespace fusedoptim::mpi {

Napi::Object Register(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("finalize", Napi::Function::New(env, Finalize, "finalize"));
  exports.Set("barrier", Napi::Function::New(env, Barrier, "barrier"));
  exports.Set("abort", Napi::Function::New(env, Abort, "abort"));
  exports.Set("state", Napi::Function::New(env, State, "state"));
  exports.Set("collective", Napi::Function::New(env, Collective, "collective"));
  exports.Set("collectiveAsync", Napi::Function::New(env, CollectiveAsync, "collectiveAsync"));
  exports.Set("submit", Napi::Function::New(env, Submit, "submit"));
  exports.Set("drain", Napi::Function::New(env, Drain, "drain"));
  exports.Set("drainAsync", Napi::Function::New(env, DrainAsync, "drainAsync"));
  exports.Set("encodeHalf", Napi::Function::New(env, EncodeHalf, "encodeHalf"));
  exports.Set("decodeHalf", Napi::Function::New(env, DecodeHalf, "decodeHalf"));
  exports.Set("halfArraysIsa", Napi::Function::New(env, HalfArraysIsa, "halfArraysIsa"));
  return exports;
}

}  // namespace fusedoptim::mpi

static Napi::Object InitFusedoptimMpi(Napi::Env env, Napi::Object exports) { return fusedoptim::mpi::Register(env, exports); }

NODE_API_MODULE(fusedoptim_mpi, InitFusedoptimMpi)
