// Registers the addon's functions; nothing else. lib/native.ts declares the
// same surface as a TypeScript interface.
//
// The addon keeps no mutable global state (the kernel table is a constant of
// the process), so it is context-aware: it loads in the main thread and in any
// number of worker_threads at once.
#include <napi.h>

#include <cstdint>

#include "boundary/args.h"
#include "dispatch/kernel_table.h"
#include "boundary/plan.h"
#include "boundary/reduce_call.h"
#include "boundary/thread_probe.h"
#include "boundary/update_call.h"

namespace fusedoptim {

// info(): what this build and this CPU run: the instruction set chosen, OpenMP,
// the default team size, and the kernel table: each kernel's name, slots, scalar names and
// (param, state) element types, which lib/kernels/kernel_def.ts checks.
Napi::Value Info(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const KernelTable& table = kernels();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", table.isa);
  out.Set("openmp", has_openmp());
  out.Set("defaultThreads", default_thread_count());
  out.Set("reduceBlock", double(kReduceBlock));
  out.Set("reduceLanes", kReduceLanes);
  Napi::Array rows = Napi::Array::New(env, table.update_count);
  for (int k = 0; k < table.update_count; ++k) {
    const UpdateKernel& kernel = table.update[k];
    Napi::Object row = Napi::Object::New(env);
    row.Set("name", kernel.name);
    row.Set("slots", kernel.slots);
    row.Set("stateSlots", kernel.state_slots);
    Napi::Array scalars = Napi::Array::New(env, kernel.scalar_count);
    for (int s = 0; s < kernel.scalar_count; ++s) scalars.Set(uint32_t(s), kernel.scalar_names[s]);
    row.Set("scalars", scalars);
    Napi::Array variants = Napi::Array::New(env, kernel.variant_count);
    for (int v = 0; v < kernel.variant_count; ++v) {
      Napi::Object pair = Napi::Object::New(env);
      pair.Set("param", dtype_name(kernel.variants[v].param));
      pair.Set("state", dtype_name(kernel.variants[v].state));
      variants.Set(uint32_t(v), pair);
    }
    row.Set("variants", variants);
    // Slot roles, for kernels whose slots are not just params then state
    // (8-bit state: codes, block scales, code maps); absent otherwise.
    if (kernel.roles != nullptr) {
      static const char* const kRoleNames[] = {"param", "state", "blocks", "table", "rows", "cols"};
      Napi::Array roles = Napi::Array::New(env, kernel.slots);
      for (int s = 0; s < kernel.slots; ++s) {
        Napi::Object role = Napi::Object::New(env);
        role.Set("kind", kRoleNames[int(kernel.roles[s].kind)]);
        role.Set("size", kernel.roles[s].size);
        roles.Set(uint32_t(s), role);
      }
      row.Set("roles", roles);
    }
    rows.Set(uint32_t(k), row);
  }
  out.Set("updateKernels", rows);
  return out;
}

// alignmentOffset(arrayBuffer, alignment): bytes from the buffer's start to its
// first address that is a multiple of `alignment` (JavaScript cannot see addresses).
Napi::Value AlignmentOffset(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "buffer: expected an ArrayBuffer");
  const int alignment = read_int(env, info[1], 1, 4096, "alignment");
  const auto address = reinterpret_cast<std::uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  const std::uintptr_t misalignment = address % std::uintptr_t(alignment);
  return Napi::Number::New(env, double(misalignment == 0 ? 0 : std::uintptr_t(alignment) - misalignment));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("update", Napi::Function::New(env, Update, "update"));
  exports.Set("updateAsync", Napi::Function::New(env, UpdateAsync, "updateAsync"));
  exports.Set("createPlan", Napi::Function::New(env, CreatePlan, "createPlan"));
  exports.Set("updatePlanned", Napi::Function::New(env, UpdatePlanned, "updatePlanned"));
  exports.Set("reducePlanned", Napi::Function::New(env, ReducePlanned, "reducePlanned"));
  exports.Set("createStep", Napi::Function::New(env, CreateStep, "createStep"));
  exports.Set("runStep", Napi::Function::New(env, RunStep, "runStep"));
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("reduceAsync", Napi::Function::New(env, ReduceAsync, "reduceAsync"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("alignmentOffset", Napi::Function::New(env, AlignmentOffset, "alignmentOffset"));
  exports.Set("threadProbe", Napi::Function::New(env, ThreadProbe, "threadProbe"));
  return exports;
}

}  // namespace fusedoptim

static Napi::Object InitFusedoptim(Napi::Env env, Napi::Object exports) { return fusedoptim::Init(env, exports); }

NODE_API_MODULE(fusedoptim, InitFusedoptim)
