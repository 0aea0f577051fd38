#include "update_call.h"

#include <string>
#include <vector>

#include "async_call.h"

namespace fusedoptim {

namespace {

struct UpdateJob {
  UpdateFn fn = nullptr;
  ResolvedBatch batch;
  std::vector<double> scalars;
  int threads = 1;

  void run() { fn(batch.view(), scalars.data(), threads); }
  Napi::Value result(Napi::Env env) const { return env.Undefined(); }
};

}  // namespace

const UpdateKernel& read_kernel(Napi::Env env, const Napi::Value& value) {
  const KernelTable& table = kernels();
  return table.update[read_int(env, value, 0, table.update_count - 1, "kernel")];
}

BatchLayout layout_of(const UpdateKernel& kernel) { return BatchLayout{kernel.slots, kernel.state_slots, kernel.roles}; }

UpdateFn variant_for(Napi::Env env, const UpdateKernel& kernel, const ResolvedBatch& batch) {
  const KernelVariant* found = kernel.find(batch.param_dtype, batch.state_dtype);
  if (found != nullptr) return found->run;
  std::string have;
  for (int v = 0; v < kernel.variant_count; ++v) {
    have += std::string(v == 0 ? "" : ", ") + dtype_name(kernel.variants[v].param) + "/" +
            dtype_name(kernel.variants[v].state);
  }
  throw_type_error(env, "ERR_DTYPE_MISMATCH",
                   std::string("buffers: the ") + kernel.name + " kernel has no variant for " +
                       dtype_name(batch.param_dtype) + " params with " + dtype_name(batch.state_dtype) +
                       " state (it has param/state " + have + ")");
}

Napi::Value Update(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const UpdateKernel& kernel = read_kernel(env, info[0]);
  // One per thread (the main thread and each worker_thread): its vectors keep
  // their capacity, so a warm synchronous step allocates nothing.
  thread_local ResolvedBatch batch;
  read_batch_into(env, info[1], layout_of(kernel), "buffers", batch);
  const UpdateFn run = variant_for(env, kernel, batch);
  const double* scalars = read_scalars(env, info[2], kernel.scalar_count, "scalars");
  const int threads = read_threads(env, info[3]);
  run(batch.view(), scalars, threads);
  return env.Undefined();
}

Napi::Value UpdateAsync(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const UpdateKernel& kernel = read_kernel(env, info[0]);
  UpdateJob job;
  Napi::Array owners;
  job.batch = read_batch(env, info[1], layout_of(kernel), "buffers", &owners);
  job.fn = variant_for(env, kernel, job.batch);
  const double* scalars = read_scalars(env, info[2], kernel.scalar_count, "scalars");
  job.scalars.assign(scalars, scalars + kernel.scalar_count);
  job.threads = read_threads(env, info[3]);
  return AsyncCall<UpdateJob>::start(env, std::move(job), owners);
}

}  // namespace fusedoptim
